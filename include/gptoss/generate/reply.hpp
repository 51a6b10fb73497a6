// One assistant reply in the Harmony format: render the conversation for completion, sample until
// <|return|> or <|call|>, and parse the tokens as they come, reporting each content delta with the
// channel and recipient of the message it belongs to, so a caller can stream the final answer,
// show or hide the analysis channel, and see tool calls.
#pragma once
#include <functional>
#include <string>
#include <utility>
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

// Reads a reply's tokens as they come: parses them (leniently: the output may not be Harmony)
// and reports each content delta.
class ReplyReader {
 public:
  ReplyReader(const text::Tokenizer& tok, const ReplyCallback& on_delta)
      : parser_(tok, harmony::Role::assistant, /*strict=*/false), on_delta_(on_delta) {}

  void push(token_id t) {
    reply_.tokens.push_back(t);
    if (reply_.parse_failed) return;
    try {
      parser_.push(t);
      if (const auto& d = parser_.last_content_delta(); d && on_delta_)
        on_delta_({parser_.current_channel().value_or(""), parser_.current_recipient().value_or(""), *d});
    } catch (const harmony::harmony_error&) {
      reply_.parse_failed = true;
    }
  }

  // The reply, with the messages that parsed.
  Reply finish() {
    if (!reply_.parse_failed) {
      try {
        parser_.finish();
      } catch (const harmony::harmony_error&) {
        reply_.parse_failed = true;
      }
    }
    reply_.messages = parser_.messages();
    return std::move(reply_);
  }

 private:
  // The prompt ends with `<|start|>assistant`: the reply starts inside that header.
  harmony::StreamParser parser_;
  const ReplyCallback& on_delta_;
  Reply reply_;
};

template <class Model>
Reply generate_reply(Model& model, const text::Tokenizer& tok, const harmony::Conversation& conv,
                     GenerateOptions options, const ReplyCallback& on_delta = {}) {
  const auto prompt = harmony::render_for_completion(tok, conv);
  options.stop_tokens = assistant_stop_tokens;
  ReplyReader reader(tok, on_delta);
  generate(model, prompt, options, [&](token_id t) {
    reader.push(t);
    return true;
  });
  return reader.finish();
}

}  // namespace gptoss
