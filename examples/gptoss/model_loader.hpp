// Opening the model a command names (--model DIR, --threads N, --device cpu|cuda, --precision P,
// --dynamic-config), compiled for the real presets and for any other shape. Instantiated in one
// source file (and, in builds with CUDA, model_loader_cuda.cu for the device) so the commands
// compile quickly.
#pragma once
#include <functional>
#include <memory>
#include <set>
#include <vector>
#include <string>

#include "cli.hpp"
#include "gptoss/model/any_model.hpp"

namespace gptoss::cli {

// The options of every command that loads a model.
inline const std::vector<Opt> model_options = {
    {"-m,--model", "folder with config.json and *.safetensors (original or Hugging Face layout)", "DIR"},
    {"-t,--threads", "worker threads, 1 to this machine's hardware threads (default: all of them)", "N"},
    {"--device", "cpu or cuda (default: cuda when this build has CUDA and a GPU is present)", "D"},
    {"--precision", "exact (float32, the default) or bf16 (the reference's bf16 arithmetic; cpu only)", "P"},
    {"--dynamic-config", "run the shape read from the checkpoint (Transformer<dynamic_config>) even where this "
                         "program has a compiled preset for it, to compare the two", ""},
};

// A command's options: those of the model plus its own.
inline std::vector<Opt> with_model_options(std::vector<Opt> own) {
  own.insert(own.begin(), model_options.begin(), model_options.end());
  return own;
}

// The model folder named by --model, checked before anything is read from it, so that a wrong
// path says what is wrong with it.
void check_model_dir(const Args& args);

// The model of --model DIR, or of the checkpoint `make` returns when given (a command that makes
// its own, such as bench --synthetic; called once the options are checked), on the --device and
// with the --threads that args name.
std::unique_ptr<AnyModel> load_model(const Args& args, const std::function<io::Checkpoint()>& make = {});

// Where the model runs, for reports: "cpu, kernels avx512 (cpu has: avx2 fma ...), 2 threads",
// or the device's backend name.
std::string describe_backend(const AnyModel& model);

// The host kernels that run the dense products in `precision`: "avx512", or in bf16 "avx512-bf16"
// (vdpbf16ps) or, without it, the float32 kernels' name and "with bf16-rounded activations".
std::string kernels_name(Precision precision);

// Token ids from --tokens 1,2,3, each checked to be a valid id.
std::vector<token_id> token_list(const Args& args, const std::string& name);

// The CUDA side, defined in model_loader_cuda.cu in builds with CUDA (GPTOSS_WITH_CUDA).
bool cuda_device_present();
std::unique_ptr<AnyModel> open_cuda_model(io::Checkpoint ckpt, bool progress, bool read_shape);
// The device's measured copy bandwidth (bytes read + written) in GB/s.
double cuda_copy_bandwidth_GBps();

}  // namespace gptoss::cli
