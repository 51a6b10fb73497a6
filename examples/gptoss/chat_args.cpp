#include "chat_args.hpp"

namespace gptoss::cli {

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

harmony::ReasoningEffort reasoning_effort(const Args& args) {
  const std::string e = args.str("reasoning-effort", "medium");
  if (e == "low") return harmony::ReasoningEffort::low;
  if (e == "medium") return harmony::ReasoningEffort::medium;
  if (e == "high") return harmony::ReasoningEffort::high;
  throw usage_error("--reasoning-effort must be low, medium or high");
}

}  // namespace gptoss::cli
