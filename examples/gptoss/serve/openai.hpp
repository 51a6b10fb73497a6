// The OpenAI protocol of `gptoss serve`: requests (Chat Completions, Responses) to a Harmony
// prompt and engine options, and the reply's tokens back to OpenAI's objects, streamed or not.
// No HTTP here: server.cpp carries these over cpp-httplib.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/engine/engine.hpp"
#include "gptoss/harmony/harmony.hpp"
#include "gptoss/text/stream_decoder.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss::serve {

using json = nlohmann::ordered_json;

// A request the client got wrong: 400 with this message and the field at fault.
struct bad_request : input_error {
  bad_request(const std::string& message, std::string param_) : input_error(message), param(std::move(param_)) {}
  std::string param;
};

struct ServeDefaults {
  std::optional<int> reasoning_budget;  // --reasoning-budget (none: unlimited)
  std::int64_t ctx_size = 4096;
};

enum class Api { chat, responses };

// A parsed request, ready for the engine.
struct Prepared {
  Api api = Api::chat;
  engine::RequestOptions request;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  std::vector<std::string> stop;  // stop strings on the final answer
  std::string model = "gptoss";
};

Prepared prepare_chat(const json& body, const text::Tokenizer& tok, const ServeDefaults& d);
Prepared prepare_responses(const json& body, const text::Tokenizer& tok, const ServeDefaults& d);

// One piece of a reply as it is generated.
struct Delta {
  enum class Kind { reasoning, content, tool_call } kind;
  std::string text;      // reasoning / content text, or the call's argument text
  int tool_index = -1;   // tool_call: which call
  std::string tool_name; // tool_call: set on the first delta of a call
  std::string tool_id;
};

// Turns generated tokens into deltas: analysis -> reasoning, final (and commentary without a
// recipient) -> content, commentary to functions.NAME -> a tool call. Once the tokens stop
// parsing as Harmony, the rest comes out as raw text in the content. The same object assembles
// streamed and whole replies, so they agree.
class ReplyAssembler {
 public:
  ReplyAssembler(const text::Tokenizer& tok, std::string id_prefix, std::vector<std::string> stop);
  // The deltas this token completes. `stopped` becomes true when a stop string was reached (the
  // content is cut before it).
  std::vector<Delta> push(token_id t);
  std::vector<Delta> finish();
  bool stopped() const { return stopped_; }

  // Whole reply, accumulated from the deltas.
  std::string reasoning, content;
  struct Call {
    std::string id, name, arguments;
  };
  std::vector<Call> calls;

 private:
  void add(std::vector<Delta>& out, Delta d);
  const text::Tokenizer& tok_;
  harmony::StreamParser parser_;
  text::StreamDecoder raw_;
  bool raw_mode_ = false, stopped_ = false;
  std::size_t messages_done_ = 0;
  std::vector<token_id> message_tokens_;  // tokens of the message being parsed
  bool message_emitted_ = false;
  std::string id_prefix_;
  std::vector<std::string> stop_;
  std::string held_;  // content held back: it may be the start of a stop string
};

// Chat Completions objects.
json chat_message_json(const ReplyAssembler& a);
json usage_json(const engine::Result& r, Api api);
json logprobs_json(const text::Tokenizer& tok, const engine::Result& r);
std::string finish_reason(const engine::Result& r, const ReplyAssembler& a);

json error_json(const std::string& message, const std::string& type, const std::string& param = "",
                const std::string& code = "");

}  // namespace gptoss::serve
