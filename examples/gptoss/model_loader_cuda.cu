// The CUDA Transformer for the gptoss command, in its own translation unit (the only one nvcc
// compiles): the 20B and 120B presets and any other shape, behind AnyModel.
#include "gptoss/cuda/transformer.cuh"
#include "model_loader.hpp"

namespace gptoss::cli {

bool cuda_device_present() { return cuda_detail::has_device(); }

double cuda_copy_bandwidth_GBps() { return cuda_detail::measure_copy_bandwidth(); }

std::unique_ptr<AnyModel> open_cuda_model(io::Checkpoint ckpt, bool progress) {
  CudaOptions options;
  options.progress = progress;
  if (ckpt.config() == gpt_oss_20b)
    return std::make_unique<ModelAdapter<Transformer<gpt_oss_20b, cuda>, true>>(std::move(ckpt), options);
  if (ckpt.config() == gpt_oss_120b)
    return std::make_unique<ModelAdapter<Transformer<gpt_oss_120b, cuda>, true>>(std::move(ckpt), options);
  return std::make_unique<ModelAdapter<Transformer<dynamic_config, cuda>, false>>(std::move(ckpt), options);
}

}  // namespace gptoss::cli
