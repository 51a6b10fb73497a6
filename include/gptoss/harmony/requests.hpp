// The render and parse requests of the golden-case schema, end to end: JSON in, JSON out. This is
// the whole of `gptoss harmony render|parse`, kept here so the tests run exactly the same code.
#pragma once
#include <optional>
#include <string>

#include "gptoss/harmony/json.hpp"
#include "gptoss/harmony/parse.hpp"
#include "gptoss/harmony/render.hpp"

namespace gptoss::harmony {

// {"render": {"mode", "next_role", "auto_drop_analysis"}, "messages": [...]}
//   -> {"text": decoded tokens (special tokens as their text), "tokens": [...]}
inline ordered_json render_request(const text::Tokenizer& tok, const ordered_json& req) {
  detail::require_object(req, "a render request");
  auto it = req.find("render");
  const ordered_json& how = it == req.end() ? ordered_json::object() : detail::require_object(*it, "'render'");
  std::string mode = detail::opt_string(how, "mode").value_or("conversation");
  RenderOptions opt;
  opt.auto_drop_analysis = detail::opt_bool(how, "auto_drop_analysis").value_or(true);
  auto m = req.find("messages");
  std::vector<Message> messages = messages_from_json(m == req.end() ? ordered_json::array() : *m);

  std::vector<token_id> ids;
  if (mode == "completion") {
    Role next = detail::role_from_json(detail::opt_string(how, "next_role").value_or("assistant"));
    ids = render_for_completion(tok, messages, next, opt);
  } else if (mode == "conversation") {
    ids = render_conversation(tok, messages, opt);
  } else if (mode == "training") {
    ids = render_for_training(tok, messages, opt);
  } else if (mode == "message") {
    if (messages.size() != 1) throw input_error("harmony JSON: mode 'message' renders exactly one message");
    ids = render_message(tok, messages[0]);
  } else {
    throw input_error("harmony JSON: unknown render mode '" + mode + "'");
  }
  return {{"text", tok.decode(ids)}, {"tokens", ids}};
}

// The `input` object of a parse case: {"role": ROLE|null, "strict": BOOL, "tokens": [...]}.
struct ParseInput {
  std::optional<Role> role;
  bool strict = true;
  std::vector<token_id> tokens;
};

inline ParseInput parse_input_from_json(const ordered_json& in) {
  detail::require_object(in, "'input'");
  ParseInput p;
  if (auto r = detail::opt_string(in, "role")) p.role = detail::role_from_json(*r);
  p.strict = detail::opt_bool(in, "strict").value_or(true);
  auto t = in.find("tokens");
  if (t != in.end()) p.tokens = token_ids_from_json(*t);
  return p;
}

// {"input": {...}} -> {"messages": [...]}
inline ordered_json parse_request(const text::Tokenizer& tok, const ordered_json& req) {
  detail::require_object(req, "a parse request");
  auto in = req.find("input");
  if (in == req.end()) throw input_error("harmony JSON: a parse request needs 'input'");
  ParseInput p = parse_input_from_json(*in);
  return {{"messages", to_json(parse_completion(tok, p.tokens, p.role, p.strict))}};
}

}  // namespace gptoss::harmony
