// Opening the model a command names (--model DIR, --threads N, --device cpu|cuda), compiled for the
// real presets and for any other shape. Instantiated in one source file (and, in builds with CUDA,
// model_loader_cuda.cu for the device) so the commands compile quickly.
#pragma once
#include <memory>
#include <set>
#include <string>

#include "cli.hpp"
#include "gptoss/model/any_model.hpp"

namespace gptoss::cli {

inline const std::string model_options_usage =
    "  --model DIR        folder with config.json and *.safetensors (original or Hugging Face layout)\n"
    "  --threads N        worker threads (default: one per hardware thread)\n"
    "  --device D         cpu or cuda (default: cuda when this build has CUDA and a GPU is present)\n";

// The option names model_options_usage describes: each command that loads a model accepts them.
inline const std::set<std::string> model_option_names = {"model", "threads", "device"};

// A command's options: those of the model plus its own.
inline std::set<std::string> with_model_options(std::set<std::string> own) {
  own.insert(model_option_names.begin(), model_option_names.end());
  return own;
}

std::unique_ptr<AnyModel> load_model(const Args& args);

// Where the model runs, for reports: "cpu, kernels avx512 (cpu has: avx2 fma ...), 2 threads",
// or the device's backend name.
std::string describe_backend(const AnyModel& model);

// Token ids from --tokens 1,2,3, each checked to be a valid id.
std::vector<token_id> token_list(const Args& args, const std::string& name);

// The CUDA side, defined in model_loader_cuda.cu in builds with CUDA (GPTOSS_WITH_CUDA).
bool cuda_device_present();
std::unique_ptr<AnyModel> open_cuda_model(io::Checkpoint ckpt, bool progress);
// The device's measured copy bandwidth (bytes read + written) in GB/s.
double cuda_copy_bandwidth_GBps();

}  // namespace gptoss::cli
