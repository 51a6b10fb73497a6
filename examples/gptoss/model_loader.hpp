// Opening the model a command names (--model DIR, --threads N), compiled for the real presets and
// for any other shape. Instantiated in one source file so the commands compile quickly.
#pragma once
#include <memory>
#include <string>

#include "cli.hpp"
#include "gptoss/model/any_model.hpp"

namespace gptoss::cli {

inline const std::string model_options_usage =
    "  --model DIR        folder with config.json and *.safetensors (original or Hugging Face layout)\n"
    "  --threads N        worker threads (default: one per hardware thread)\n";

std::unique_ptr<AnyModel> load_model(const Args& args);

// Token ids from --tokens 1,2,3, each checked to be a valid id.
std::vector<token_id> token_list(const Args& args, const std::string& name);

}  // namespace gptoss::cli
