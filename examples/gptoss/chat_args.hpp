// Options shared by the commands that talk in the Harmony format (`generate --prompt`, `chat`).
#pragma once
#include <filesystem>
#include <string>

#include "cli.hpp"
#include "gptoss/harmony/harmony.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss::cli {

// The vocabulary: --vocab FILE, else tokenizer.json next to the model (in DIR or its parent, as in
// the official release's `original/` folder), else the library's default.
text::Tokenizer load_vocabulary(const Args& args);

harmony::ReasoningEffort reasoning_effort(const Args& args);

}  // namespace gptoss::cli
