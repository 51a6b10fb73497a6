// One assistant turn in the Harmony format, shared by `gptoss generate --prompt` and `gptoss chat`:
// render the conversation for completion, sample until <|return|> or <|call|>, and parse the
// tokens as they come so that content can be streamed per channel.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "gptoss/generate/generate.hpp"
#include "gptoss/harmony/harmony.hpp"
#include "gptoss/model/any_model.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss::cli {

// The vocabulary: --vocab FILE, else tokenizer.json next to the model (in DIR or its parent, as in
// the official release's `original/` folder), else the library's default.
text::Tokenizer load_vocabulary(const Args& args);

harmony::ReasoningEffort reasoning_effort(const Args& args);

// A streamed piece of the reply: the channel and recipient of the message it belongs to.
struct Delta {
  std::string channel, recipient, text;
};

struct TurnResult {
  std::vector<harmony::Message> messages;  // the parsed assistant messages of this turn
  std::vector<token_id> tokens;            // what was sampled
  bool parse_failed = false;               // the model's output was not valid Harmony
};

TurnResult assistant_turn(AnyModel& model, const text::Tokenizer& tok, const harmony::Conversation& conv,
                          const GenerateOptions& options, const std::function<void(const Delta&)>& on_delta);

}  // namespace gptoss::cli
