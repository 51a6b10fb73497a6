#include "chat_args.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <fmt/core.h>

namespace gptoss::cli {

std::vector<Opt> with_harmony_options(std::vector<Opt> own, bool reasoning_shown_by_default) {
  own.push_back({"--reasoning-effort", "low, medium (default) or high, set in the system message", "E"});
  own.push_back({"--system", "instructions for the model (the Harmony developer message)", "TEXT"});
  own.push_back({"--vocab", "tokenizer.json or o200k_base.tiktoken (default: tokenizer.json next to the model, "
                            "else $GPTOSS_VOCAB, else the installed o200k_base.tiktoken)", "FILE"});
  own.push_back({"--show-reasoning", std::string("print the analysis channel") + (reasoning_shown_by_default ? " (default)" : ""), ""});
  own.push_back({"--hide-reasoning", std::string("do not print the analysis channel") + (reasoning_shown_by_default ? "" : " (default)"), ""});
  return own;
}

text::Tokenizer load_vocabulary(const Args& args) {
  if (args.has("vocab")) return text::Tokenizer::from_file(args.str("vocab"));
  if (args.has("model")) {
    const std::filesystem::path dir = args.str("model");
    for (const auto& p : {dir / "tokenizer.json", dir.parent_path() / "tokenizer.json"}) {
      std::error_code ec;
      if (std::filesystem::is_regular_file(p, ec)) return text::Tokenizer::from_file(p);
    }
  }
  return text::Tokenizer::load_default();
}

harmony::ReasoningEffort parse_effort(const std::string& e, const std::string& what) {
  if (e == "low") return harmony::ReasoningEffort::low;
  if (e == "medium") return harmony::ReasoningEffort::medium;
  if (e == "high") return harmony::ReasoningEffort::high;
  throw usage_error(what + " must be low, medium or high, not '" + e + "'");
}

harmony::ReasoningEffort reasoning_effort(const Args& args) { return parse_effort(args.str("reasoning-effort", "medium"), "--reasoning-effort"); }

bool show_reasoning(const Args& args, bool by_default) {
  if (args.flag("show-reasoning") && args.flag("hide-reasoning"))
    throw usage_error("--show-reasoning and --hide-reasoning exclude each other");
  if (args.flag("show-reasoning")) return true;
  if (args.flag("hide-reasoning")) return false;
  return by_default;
}

void Timings::report(std::size_t prompt_tokens, std::size_t cached_tokens) const {
  if (tokens_ == 0) return;
  const auto end = Clock::now();
  const double prefill_s = std::chrono::duration<double>(first_ - t0_).count();
  const double decode_s = std::chrono::duration<double>(end - first_).count();
  std::string line = fmt::format("prefill {} tokens at {:.1f} tokens/s", prompt_tokens, prompt_tokens / std::max(prefill_s, 1e-9));
  if (cached_tokens > 0) line += fmt::format(" ({} more from the cache)", cached_tokens);
  if (tokens_ > 1) line += fmt::format(", decode {} tokens at {:.1f} tokens/s", tokens_ - 1, (tokens_ - 1) / std::max(decode_s, 1e-9));
  fmt::print(stderr, "{}\n", line);
}

std::string prompt_text(const Args& args) {
  if (args.has("prompt") && args.has("file")) throw usage_error("give -p/--prompt or -f/--file, not both");
  if (args.has("prompt")) return args.str("prompt");
  const std::string file = args.str("file");
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) throw io_error("cannot read standard input");
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw io_error(file + ": cannot open the prompt file");
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  // A file's final line break is not part of the question.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) throw input_error("the prompt " + (file == "-" ? std::string("on standard input") : "in " + file) + " is empty");
  return text;
}

}  // namespace gptoss::cli
