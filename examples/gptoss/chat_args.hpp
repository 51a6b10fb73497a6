// Options shared by the commands that talk in the Harmony format (`generate --prompt`, `chat`),
// and the timings line both print after generating.
#pragma once
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli.hpp"
#include "gptoss/harmony/harmony.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss::cli {

// --reasoning-effort, --system, --vocab, and how the reasoning is shown.
std::vector<Opt> with_harmony_options(std::vector<Opt> own, bool reasoning_shown_by_default);

// The vocabulary: --vocab FILE, else tokenizer.json next to the model (in DIR or its parent, as in
// the official release's `original/` folder), else the library's default. Called before the
// model is loaded, so that a bad --vocab is reported at once.
text::Tokenizer load_vocabulary(const Args& args);

harmony::ReasoningEffort reasoning_effort(const Args& args);
// `what` names the setting in the message: "--reasoning-effort must be low, medium or high".
harmony::ReasoningEffort parse_effort(const std::string& text, const std::string& what);  // throws usage_error

// Whether to print the analysis channel: --show-reasoning / --hide-reasoning, else the default.
bool show_reasoning(const Args& args, bool by_default);

// Times one generation from the prompt's start: the first token ends the prefill, the rest are
// decode steps. report() prints one line on stderr.
class Timings {
 public:
  using Clock = std::chrono::steady_clock;
  void start() { t0_ = Clock::now(), tokens_ = 0; }
  void token() {
    if (tokens_++ == 0) first_ = Clock::now();
  }
  int tokens() const { return tokens_; }
  // prompt_tokens: those read; cached_tokens: those that came from the KV cache instead.
  void report(std::size_t prompt_tokens, std::size_t cached_tokens = 0) const;

 private:
  Clock::time_point t0_, first_;
  int tokens_ = 0;
};

// The text of a prompt: -p TEXT, or -f FILE (- for standard input); exactly one may be given.
std::string prompt_text(const Args& args);

}  // namespace gptoss::cli
