#include "model_loader.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <thread>

#include <fmt/core.h>

#include "gptoss/host/kernels.hpp"

namespace gptoss::cli {

void check_model_dir(const Args& args) {
  const std::filesystem::path dir = args.str("model");
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) throw io_error(dir.string() + ": no such file or folder");
  if (!std::filesystem::is_directory(dir, ec))
    throw io_error(dir.string() + " is not a folder: --model names the folder that holds config.json and *.safetensors");
  if (!std::filesystem::exists(dir / "config.json", ec)) {
    std::string hint;
    if (std::filesystem::exists(dir / "original" / "config.json", ec)) hint = " (" + (dir / "original").string() + " has one)";
    throw io_error(dir.string() + " holds no model: no config.json in it" + hint);
  }
}

int thread_count(const Args& args) {
  const int hardware = int(std::max(1u, std::thread::hardware_concurrency()));
  if (!args.has("threads")) return 0;  // the host backend's default: one per hardware thread
  const int n = args.number<int>("threads");
  if (n < 1 || n > hardware)
    throw usage_error(fmt::format("-t/--threads must be between 1 and {} (this machine's hardware threads), not {}", hardware,
                                  args.str("threads")));
  return n;
}

std::unique_ptr<AnyModel> load_model(const Args& args, const std::function<io::Checkpoint()>& make) {
  HostOptions options;
  options.threads = thread_count(args);
  if (args.has("precision")) {
    try {
      options.precision = parse_precision(args.str("precision"));
    } catch (const input_error& e) {
      throw usage_error(std::string("--") + e.what());
    }
  }
  if (!make) check_model_dir(args);
  auto open = [&] { return make ? make() : io::Checkpoint::open(args.str("model")); };
#if GPTOSS_WITH_CUDA
  const bool have_cuda = true;
#else
  const bool have_cuda = false;
#endif
  std::string device = args.str("device", "");
  if (device.empty()) device = have_cuda && cuda_device_present() ? "cuda" : "cpu";
  if (device != "cpu" && device != "cuda") throw usage_error("--device must be cpu or cuda, not '" + device + "'");
  if (device == "cuda") {
    if (options.precision != Precision::exact)
      throw usage_error("--precision bf16 runs only on --device cpu for now: the CUDA backend computes exact (float32)");
    if (!have_cuda) throw usage_error("--device cuda: this gptoss was built without CUDA (configure with -DGPTOSS_CUDA=ON)");
    if (!cuda_device_present()) throw error("--device cuda: no CUDA device is available on this machine");
    if (args.given("threads")) throw usage_error("-t/--threads applies only to --device cpu");
    return open_cuda_model(open(), !args.flag("quiet"), args.flag("dynamic-config"));
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto model = args.flag("dynamic-config") ? open_model<>(open(), options)
                                            : open_model<gpt_oss_20b, gpt_oss_120b>(open(), options);
  if (args.flag("verbose"))
    fmt::print(stderr, "loaded {} in {:.2f} s; backend: {}\n", args.has("model") ? args.str("model") : "the synthetic model",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), describe_backend(*model));
  return model;
}

#if !GPTOSS_WITH_CUDA
bool cuda_device_present() { return false; }
std::unique_ptr<AnyModel> open_cuda_model(io::Checkpoint, bool, bool) {
  throw error("this gptoss was built without CUDA (configure with -DGPTOSS_CUDA=ON)");
}
double cuda_copy_bandwidth_GBps() { throw error("this gptoss was built without CUDA (configure with -DGPTOSS_CUDA=ON)"); }
#endif

std::string describe_backend(const AnyModel& model) {
  if (std::string_view(model.backend()) != "cpu") return model.backend();
  const auto& cpu = host::cpu_features();
  return fmt::format("cpu, kernels {} (cpu has: {}), {} threads", kernels_name(model.precision()), cpu.describe(),
                     model.threads());
}

std::string kernels_name(Precision precision) {
  const host::Kernels& k = host::kernels(precision);
  if (precision == Precision::exact) return host::isa_name(k.isa);
  if (k.bf16_products) return "avx512-bf16";
  return std::string(host::isa_name(k.isa)) + " with bf16-rounded activations";
}

std::vector<token_id> token_list(const Args& args, const std::string& name) {
  std::vector<token_id> out;
  for (std::int64_t v : args.int_list(name)) {
    if (v < 0 || v > std::int64_t(std::numeric_limits<token_id>::max()))
      throw usage_error(label(name) + ": " + std::to_string(v) + " is not a token id");
    out.push_back(token_id(v));
  }
  return out;
}

}  // namespace gptoss::cli
