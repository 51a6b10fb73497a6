// The generation loop and Harmony replies against a scripted model whose "logits" force a known
// token sequence: stop rules, max_tokens, the context limit and the streamed deltas per channel.
#define BOOST_TEST_MODULE generate
#include <boost/test/unit_test.hpp>

#include "gptoss/config/model_config.hpp"
#include "gptoss/generate/reply.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;

namespace {

// Emits `script` one token per step (one-hot logits), then token 0 forever.
struct ScriptedModel {
  struct Sequence {
    std::int64_t length = 0, capacity = 0;
  };
  std::vector<token_id> script;
  std::vector<token_id> prompt_seen;
  std::size_t next = 0;

  const ModelConfig& config() const { return tiny_harmony_test; }
  Sequence new_sequence(std::int64_t capacity) { return {0, capacity}; }
  void emit(std::span<float> logits) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    logits[next < script.size() ? script[next] : 0] = 10.0f;
    ++next;
  }
  std::vector<float> prefill(Sequence& s, std::span<const token_id> prompt) {
    prompt_seen.assign(prompt.begin(), prompt.end());
    s.length += std::int64_t(prompt.size());
    std::vector<float> logits(std::size_t(config().vocab_size));
    emit(logits);
    return logits;
  }
  void decode(Sequence& s, token_id, std::span<float> logits) {
    BOOST_REQUIRE(s.length < s.capacity);
    ++s.length;
    emit(logits);
  }
};

const text::Tokenizer& tokenizer() {
  static auto tok = text::Tokenizer::from_file(std::string(GPTOSS_TEST_DATA) + "/tokenizer/o200k_base.tiktoken");
  return tok;
}

std::vector<token_id> cat(std::initializer_list<std::vector<token_id>> parts) {
  std::vector<token_id> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(stops_on_stop_tokens_and_max_tokens) {
  ScriptedModel m{{5, 6, 7, 8}};
  std::vector<token_id> prompt{1, 2};
  BOOST_TEST(generate(m, prompt, {.max_tokens = 10, .stop_tokens = {7}}) == (std::vector<token_id>{5, 6, 7}));
  ScriptedModel m2{{5, 6, 7, 8}};
  BOOST_TEST(generate(m2, prompt, {.max_tokens = 2}) == (std::vector<token_id>{5, 6}));
  ScriptedModel m3{{5}};
  BOOST_TEST(generate(m3, prompt, {.max_tokens = 0}).empty());
  // The callback can stop early.
  ScriptedModel m4{{5, 6, 7}};
  BOOST_TEST(generate(m4, prompt, {.max_tokens = 10}, [](token_id t) { return t != 6; }) == (std::vector<token_id>{5, 6}));
  // The context limit is enforced before anything runs.
  ScriptedModel m5{{5}};
  BOOST_CHECK_THROW(generate(m5, prompt, {.max_tokens = 131071}), input_error);
  BOOST_CHECK_THROW(generate(m5, std::vector<token_id>{}, {.max_tokens = 1}), input_error);
}

BOOST_AUTO_TEST_CASE(reply_streams_channels_and_stops_at_return) {
  const auto& tok = tokenizer();
  using namespace harmony;
  // analysis message, <|end|>, then a final message ended by <|return|>, then junk never reached.
  auto script = cat({{tokens::channel}, tok.encode_ordinary("analysis"), {tokens::message}, tok.encode_ordinary("Think: 2+2 is 4."),
                     {tokens::end, tokens::start}, tok.encode_ordinary("assistant"), {tokens::channel},
                     tok.encode_ordinary("final"), {tokens::message}, tok.encode_ordinary("It is 4."), {tokens::return_},
                     tok.encode_ordinary("junk")});
  ScriptedModel m{script};
  Conversation conv;
  conv.system().user("What is 2 + 2?");
  std::string analysis, final_text;
  auto reply = generate_reply(m, tok, conv, {.max_tokens = 100}, [&](const ReplyDelta& d) {
    (d.channel == "analysis" ? analysis : final_text) += d.text;
    BOOST_TEST(d.recipient.empty());
  });
  BOOST_TEST(!reply.parse_failed);
  BOOST_TEST(analysis == "Think: 2+2 is 4.");
  BOOST_TEST(final_text == "It is 4.");
  BOOST_REQUIRE_EQUAL(reply.messages.size(), 2u);
  BOOST_TEST(reply.messages[1].text() == "It is 4.");
  BOOST_TEST(*reply.messages[1].channel == "final");
  BOOST_TEST(reply.tokens.back() == tokens::return_);
  // The prompt is the conversation rendered for completion, ending with <|start|>assistant.
  BOOST_TEST(m.prompt_seen == render_for_completion(tok, conv));
  // User text can never become a control token: the prompt's special tokens are structural only.
  for (token_id t : m.prompt_seen) BOOST_TEST((!tok.is_special(t) || t == tokens::start || t == tokens::message || t == tokens::end));
}

BOOST_AUTO_TEST_CASE(reply_reports_tool_calls) {
  const auto& tok = tokenizer();
  using namespace harmony;
  auto script = cat({tok.encode_ordinary(" to=functions.get_weather"), {tokens::channel}, tok.encode_ordinary("commentary"),
                     tok.encode_ordinary(" "), {tokens::constrain}, tok.encode_ordinary("json"), {tokens::message},
                     tok.encode_ordinary("{\"city\":\"Paris\"}"), {tokens::call}});
  ScriptedModel m{script};
  Conversation conv;
  conv.system().user("Weather in Paris?");
  std::string recipient, args;
  auto reply = generate_reply(m, tok, conv, {.max_tokens = 100}, [&](const ReplyDelta& d) {
    recipient = d.recipient;
    args += d.text;
  });
  BOOST_TEST(!reply.parse_failed);
  BOOST_TEST(recipient == "functions.get_weather");
  BOOST_TEST(args == "{\"city\":\"Paris\"}");
  BOOST_REQUIRE_EQUAL(reply.messages.size(), 1u);
  BOOST_TEST(*reply.messages[0].content_type == "<|constrain|>json");
  BOOST_TEST(reply.tokens.back() == tokens::call);
}

BOOST_AUTO_TEST_CASE(invalid_output_is_reported_not_thrown) {
  const auto& tok = tokenizer();
  ScriptedModel m{{harmony::tokens::message, 13225, harmony::tokens::end, 13225}};  // text where <|start|> must come
  harmony::Conversation conv;
  conv.user("hi");
  auto reply = generate_reply(m, tok, conv, {.max_tokens = 4});
  BOOST_TEST(reply.parse_failed);
  BOOST_TEST(reply.tokens.size() == 4u);
}
