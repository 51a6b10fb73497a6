// The CUDA Transformer for the gptoss command, in its own translation unit (the only one nvcc
// compiles): the 20B and 120B presets and any other shape, behind AnyModel.
#include <unistd.h>

#include <cstdio>

#include "gptoss/model/transformer_cuda.cuh"
#include "model_loader.hpp"

namespace gptoss::cli {

bool cuda_device_present() { return gpu::has_device(); }

double cuda_copy_bandwidth_GBps() { return gpu::measure_copy_bandwidth(); }

std::unique_ptr<AnyModel> open_cuda_model(io::Checkpoint ckpt, bool progress, bool read_shape) {
  CudaOptions options;
  if (progress) {
    // The memory plan, then a running percentage on a terminal (one line at the end otherwise).
    options.on_plan = [](const CudaMemoryPlan& p) {
      std::fprintf(stderr, "gptoss: CUDA device %d (%s, %s GiB free of %s): %s\n", p.device, p.device_name.c_str(),
                   CudaMemoryPlan::gib_text(p.free).c_str(), CudaMemoryPlan::gib_text(p.device_total).c_str(),
                   p.summary().c_str());
    };
    options.on_upload = [tty = bool(isatty(fileno(stderr)))](std::uint64_t done, std::uint64_t total) {
      const double gib = 1024.0 * 1024.0 * 1024.0;
      if (tty)
        std::fprintf(stderr, "\rgptoss: uploading weights %3d%% (%.2f / %.2f GiB)%s", int(100.0 * double(done) / double(total)),
                     double(done) / gib, double(total) / gib, done == total ? "\n" : "");
      else if (done == total)
        std::fprintf(stderr, "gptoss: uploaded %.2f GiB of weights\n", double(total) / gib);
    };
  }
  if (read_shape)
    return std::make_unique<ModelAdapter<Transformer<dynamic_config, backend::cuda>, false>>(std::move(ckpt), options);
  if (ckpt.config() == gpt_oss_20b)
    return std::make_unique<ModelAdapter<Transformer<gpt_oss_20b, backend::cuda>, true>>(std::move(ckpt), options);
  if (ckpt.config() == gpt_oss_120b)
    return std::make_unique<ModelAdapter<Transformer<gpt_oss_120b, backend::cuda>, true>>(std::move(ckpt), options);
  return std::make_unique<ModelAdapter<Transformer<dynamic_config, backend::cuda>, false>>(std::move(ckpt), options);
}

}  // namespace gptoss::cli
