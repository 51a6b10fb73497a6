#include "model_loader.hpp"

#include <limits>

#include <fmt/core.h>

#include "gptoss/host/kernels.hpp"

namespace gptoss::cli {

std::unique_ptr<AnyModel> load_model(const Args& args) {
  HostOptions options;
  options.threads = args.number<int>("threads", 0);
  if (options.threads < 0 || options.threads > 1024) throw usage_error("--threads must be in [0, 1024]");
#if GPTOSS_WITH_CUDA
  const bool have_cuda = true;
#else
  const bool have_cuda = false;
#endif
  std::string device = args.str("device", "");
  if (device.empty()) device = have_cuda && cuda_device_present() ? "cuda" : "cpu";
  if (device != "cpu" && device != "cuda") throw usage_error("--device must be cpu or cuda, not '" + device + "'");
  if (device == "cuda") {
    if (!have_cuda) throw usage_error("--device cuda: this gptoss was built without CUDA (configure with -DGPTOSS_CUDA=ON)");
    if (!cuda_device_present()) throw error("--device cuda: no CUDA device is available on this machine");
    return open_cuda_model(io::Checkpoint::open(args.str("model")), true);
  }
  return open_model<gpt_oss_20b, gpt_oss_120b>(io::Checkpoint::open(args.str("model")), options);
}

#if !GPTOSS_WITH_CUDA
bool cuda_device_present() { return false; }
std::unique_ptr<AnyModel> open_cuda_model(io::Checkpoint, bool) {
  throw error("this gptoss was built without CUDA (configure with -DGPTOSS_CUDA=ON)");
}
double cuda_copy_bandwidth_GBps() { throw error("this gptoss was built without CUDA (configure with -DGPTOSS_CUDA=ON)"); }
#endif

std::string describe_backend(const AnyModel& model) {
  if (std::string_view(model.backend()) != "cpu") return model.backend();
  const auto& cpu = host_detail::cpu_features();
  return fmt::format("cpu, kernels {} (cpu has: {}), {} threads", host_detail::isa_name(host_detail::kernels().isa),
                     cpu.describe(), model.threads());
}

std::vector<token_id> token_list(const Args& args, const std::string& name) {
  std::vector<token_id> out;
  for (std::int64_t v : args.int_list(name)) {
    if (v < 0 || v > std::int64_t(std::numeric_limits<token_id>::max()))
      throw usage_error("--" + name + ": " + std::to_string(v) + " is not a token id");
    out.push_back(token_id(v));
  }
  return out;
}

}  // namespace gptoss::cli
