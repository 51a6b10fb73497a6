// One assistant reply in the Harmony format: render the conversation for completion, sample until
// <|return|> or <|call|>, and parse the tokens as they come, reporting each content delta with the
// channel and recipient of the message it belongs to, so a caller can stream the final answer,
// show or hide the analysis channel, and see tool calls.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "gptoss/generate/generate.hpp"
#include "gptoss/harmony/parse.hpp"
#include "gptoss/harmony/render.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss {

struct ReplyDelta {
  std::string channel;    // "analysis", "commentary", "final", or "" when the message has none
  std::string recipient;  // the tool a call is addressed to, or ""
  std::string text;       // complete UTF-8
};

struct Reply {
  std::vector<harmony::Message> messages;  // the parsed assistant messages
  std::vector<token_id> tokens;            // every sampled token, stop token included
  bool parse_failed = false;               // the output was not valid Harmony (messages holds what parsed)
};

using ReplyCallback = std::function<void(const ReplyDelta&)>;

template <class Model>
Reply generate_reply(Model& model, const text::Tokenizer& tok, const harmony::Conversation& conv,
                     GenerateOptions options, const ReplyCallback& on_delta = {}) {
  const auto prompt = harmony::render_for_completion(tok, conv);
  options.stop_tokens = assistant_stop_tokens;
  Reply reply;
  // The prompt ends with `<|start|>assistant`: the reply starts inside that header.
  harmony::StreamParser parser(tok, harmony::Role::assistant, /*strict=*/false);
  reply.tokens = generate(model, prompt, options, [&](token_id t) {
    if (reply.parse_failed) return true;
    try {
      parser.push(t);
      if (const auto& d = parser.last_content_delta(); d && on_delta)
        on_delta({parser.current_channel().value_or(""), parser.current_recipient().value_or(""), *d});
    } catch (const harmony::harmony_error&) {
      reply.parse_failed = true;
    }
    return true;
  });
  if (!reply.parse_failed) {
    try {
      parser.finish();
    } catch (const harmony::harmony_error&) {
      reply.parse_failed = true;
    }
  }
  reply.messages = parser.messages();
  return reply;
}

}  // namespace gptoss
