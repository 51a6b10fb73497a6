#include "assistant_turn.hpp"

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

TurnResult assistant_turn(AnyModel& model, const text::Tokenizer& tok, const harmony::Conversation& conv,
                          const GenerateOptions& options, const std::function<void(const Delta&)>& on_delta) {
  const auto prompt = harmony::render_for_completion(tok, conv);
  GenerateOptions opt = options;
  opt.stop_tokens = assistant_stop_tokens;
  TurnResult result;
  // The prompt ends with `<|start|>assistant`: the reply starts inside that header.
  harmony::StreamParser parser(tok, harmony::Role::assistant, /*strict=*/false);
  result.tokens = generate(model, prompt, opt, [&](token_id t) {
    if (result.parse_failed) return true;
    try {
      parser.push(t);
      if (const auto& d = parser.last_content_delta(); d && on_delta)
        on_delta({parser.current_channel().value_or(""), parser.current_recipient().value_or(""), *d});
    } catch (const harmony::harmony_error&) {
      result.parse_failed = true;  // keep what parsed; the caller shows the raw text
    }
    return true;
  });
  if (!result.parse_failed) {
    try {
      parser.finish();
    } catch (const harmony::harmony_error&) {
      result.parse_failed = true;
    }
  }
  result.messages = parser.messages();
  return result;
}

}  // namespace gptoss::cli
