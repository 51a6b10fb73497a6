#include "openai.hpp"

#include <random>

#include "gptoss/constrain/constraint.hpp"
#include "gptoss/constrain/requests.hpp"

namespace gptoss::serve {
namespace {

constexpr std::size_t max_header_tokens = 32;

const json* member(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string need_string(const json& j, const char* key, const std::string& where) {
  const json* v = member(j, key);
  if (!v || !v->is_string()) throw bad_request(where + "." + key + " must be a string", where + "." + key);
  return v->get<std::string>();
}

double number(const json& body, const char* key, double lo, double hi, double fallback) {
  const json* v = member(body, key);
  if (!v) return fallback;
  if (!v->is_number()) throw bad_request(std::string(key) + " must be a number", key);
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi))
    throw bad_request(std::string(key) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", key);
  return x;
}

std::optional<std::int64_t> integer(const json& body, const char* key, std::int64_t lo, std::int64_t hi) {
  const json* v = member(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw bad_request(std::string(key) + " must be an integer", key);
  const std::int64_t x = v->get<std::int64_t>();
  if (x < lo || x > hi)
    throw bad_request(std::string(key) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", key);
  return x;
}

// Message content: a string or an array of parts with text.
std::string content_text(const json& c, const std::string& where) {
  if (c.is_null()) return "";
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {
    std::string out;
    for (const auto& part : c) {
      if (part.is_string()) out += part.get<std::string>();
      else if (part.is_object() && member(part, "text") && part["text"].is_string()) out += part["text"].get<std::string>();
      else throw bad_request(where + " has a part without text (only text parts are supported)", where);
    }
    return out;
  }
  throw bad_request(where + " must be a string or an array of text parts", where);
}

harmony::ReasoningEffort effort_of(const std::string& e, const std::string& where) {
  if (e == "low") return harmony::ReasoningEffort::low;
  if (e == "medium") return harmony::ReasoningEffort::medium;
  if (e == "high") return harmony::ReasoningEffort::high;
  throw bad_request(where + " must be low, medium or high", where);
}

// What both APIs share: the conversation, then sampling, tools and the constraint.
struct Common {
  harmony::SystemContent system;
  std::optional<std::string> instructions;
  std::vector<harmony::Message> turns;
  std::vector<harmony::ToolDescription> tools;
  constrain::StructuredOutput so;
  bool constrained = false;
};

void add_instructions(Common& c, const std::string& text) {
  if (c.instructions) *c.instructions += "\n\n" + text;
  else c.instructions = text;
}

harmony::Message message(harmony::Role role, std::string text) {
  harmony::Message m;
  m.role = role;
  m.content.push_back(std::move(text));
  return m;
}

harmony::Message tool_call_message(const std::string& name, std::string arguments) {
  harmony::Message m = message(harmony::Role::assistant, std::move(arguments));
  m.channel = "commentary";
  m.recipient = "functions." + name;
  m.content_type = "<|constrain|>json";
  return m;
}

harmony::Message tool_result_message(const std::string& name, std::string text) {
  harmony::Message m = message(harmony::Role::tool, std::move(text));
  m.name = "functions." + name;
  m.recipient = "assistant";
  m.channel = "commentary";
  return m;
}

Prepared finish_prepare(Common& c, Prepared p, const json& body, const text::Tokenizer& tok, const ServeDefaults& d,
                        std::optional<std::int64_t> max_tokens) {
  harmony::Conversation conv;
  conv.system(c.system);
  if (c.instructions || !c.tools.empty()) {
    harmony::DeveloperContent dev;
    dev.instructions = c.instructions;
    if (!c.tools.empty() && c.so.tool_choice.mode != constrain::ToolChoice::Mode::none)
      dev.tools.push_back({"functions", std::nullopt, c.tools});
    conv.developer(std::move(dev));
  }
  for (auto& m : c.turns) conv.add(std::move(m));
  if (c.so.tool_choice.mode == constrain::ToolChoice::Mode::function) {
    const bool declared = std::any_of(c.tools.begin(), c.tools.end(), [&](const auto& t) { return t.name == c.so.tool_choice.name; });
    if (!declared) throw bad_request("tool_choice names the function \"" + c.so.tool_choice.name + "\", which tools does not declare", "tool_choice");
  }
  if ((c.so.tool_choice.mode == constrain::ToolChoice::Mode::required) && c.tools.empty())
    throw bad_request("tool_choice \"required\" needs tools", "tool_choice");
  try {
    p.request.prompt = harmony::render_for_completion(tok, conv);
  } catch (const harmony::harmony_error& e) {
    throw bad_request(std::string("the conversation cannot be rendered: ") + e.what(), "messages");
  }
  const std::int64_t room = d.ctx_size - std::int64_t(p.request.prompt.size());
  if (room < 1)
    throw bad_request("the prompt is " + std::to_string(p.request.prompt.size()) + " tokens, more than the context of " +
                          std::to_string(d.ctx_size) + " tokens leaves room for",
                      "messages");
  if (max_tokens && *max_tokens > room)
    throw bad_request("the prompt of " + std::to_string(p.request.prompt.size()) + " tokens plus max_tokens " +
                          std::to_string(*max_tokens) + " exceed the context of " + std::to_string(d.ctx_size) + " tokens",
                      "max_tokens");
  p.request.max_tokens = int(max_tokens.value_or(room));
  p.request.stop_tokens = assistant_stop_tokens;
  if (c.constrained) {
    try {
      p.request.constraint = std::make_unique<constrain::Constraint>(tok, conv, c.so);
    } catch (const constrain::schema_error& e) {
      const bool tool = e.path.rfind("/tools/", 0) == 0;
      throw bad_request(std::string("the schema at ") + (e.path.empty() ? "/" : e.path) + " is refused: " + e.reason,
                        tool ? "tools" : "response_format");
    }
  }
  if (const json* m = member(body, "model"); m && m->is_string()) p.model = m->get<std::string>();
  return p;
}

void sampling_from(const json& body, Prepared& p) {
  auto& s = p.request.sampling;
  s.temperature = float(number(body, "temperature", 0, 2, 1.0));
  s.top_p = float(number(body, "top_p", 0, 1, 1.0));
  if (s.top_p <= 0) s.top_p = 1e-6f;
  if (auto seed = integer(body, "seed", std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()))
    s.seed = std::uint64_t(*seed);
  else
    s.seed = std::random_device{}() * 0x100000000ull + std::random_device{}();
}

void budget_from(const json& body, Common& c, const ServeDefaults& d, const char* key) {
  std::optional<int> budget = d.reasoning_budget;
  if (auto b = integer(body, key, -1, 1 << 24)) budget = *b < 0 ? std::nullopt : std::optional<int>(int(*b));
  if (budget) {
    c.so.reasoning_budget = budget;
    c.constrained = true;
  }
}

void tools_from(const json& body, Common& c) {
  if (const json* t = member(body, "tools")) {
    try {
      c.tools = constrain::function_tools_from_json(*t);
    } catch (const input_error& e) {
      throw bad_request(e.what(), "tools");
    }
    if (!c.tools.empty()) c.constrained = true;
  }
  if (const json* t = member(body, "tool_choice")) {
    try {
      c.so.tool_choice = constrain::tool_choice_from_json(*t);
    } catch (const input_error& e) {
      throw bad_request(e.what(), "tool_choice");
    }
  }
}

void format_from(const json* f, Common& c, const char* param) {
  if (!f) return;
  try {
    c.so.response_format = constrain::response_format_from_json(*f, param);
  } catch (const input_error& e) {
    throw bad_request(e.what(), param);
  }
  if (c.so.response_format.kind != constrain::ResponseFormat::Kind::text) c.constrained = true;
}

std::vector<std::string> stop_from(const json& body) {
  const json* s = member(body, "stop");
  if (!s) return {};
  std::vector<std::string> out;
  if (s->is_string()) out.push_back(s->get<std::string>());
  else if (s->is_array() && s->size() <= 4 && std::all_of(s->begin(), s->end(), [](const json& x) { return x.is_string(); }))
    for (const auto& x : *s) out.push_back(x.get<std::string>());
  else
    throw bad_request("stop must be a string or an array of at most 4 strings", "stop");
  std::erase_if(out, [](const std::string& x) { return x.empty(); });
  return out;
}

}  // namespace

Prepared prepare_chat(const json& body, const text::Tokenizer& tok, const ServeDefaults& d) {
  if (!body.is_object()) throw bad_request("the request body must be a JSON object", "");
  Prepared p;
  Common c;
  if (const json* e = member(body, "reasoning_effort")) {
    if (!e->is_string()) throw bad_request("reasoning_effort must be a string", "reasoning_effort");
    c.system.reasoning_effort = effort_of(e->get<std::string>(), "reasoning_effort");
  }
  const json* msgs = member(body, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty()) throw bad_request("messages must be a non-empty array", "messages");
  std::map<std::string, std::string> call_names;  // tool_call_id -> function name
  for (std::size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad_request(where + " must be an object", where);
    const std::string role = need_string(m, "role", where);
    const json* content = member(m, "content");
    const std::string text = content ? content_text(*content, where + ".content") : "";
    if (role == "system" || role == "developer") {
      add_instructions(c, text);
    } else if (role == "user") {
      c.turns.push_back(message(harmony::Role::user, text));
    } else if (role == "assistant") {
      if (const json* r = member(m, "reasoning_content"); r && r->is_string() && !r->get<std::string>().empty()) {
        harmony::Message a = message(harmony::Role::assistant, r->get<std::string>());
        a.channel = "analysis";
        c.turns.push_back(std::move(a));
      }
      if (!text.empty()) {
        harmony::Message a = message(harmony::Role::assistant, text);
        a.channel = "final";
        c.turns.push_back(std::move(a));
      }
      if (const json* calls = member(m, "tool_calls")) {
        if (!calls->is_array()) throw bad_request(where + ".tool_calls must be an array", where + ".tool_calls");
        for (std::size_t k = 0; k < calls->size(); ++k) {
          const json& call = (*calls)[k];
          const std::string cw = where + ".tool_calls[" + std::to_string(k) + "]";
          const json* f = call.is_object() ? member(call, "function") : nullptr;
          if (!f || !f->is_object()) throw bad_request(cw + ".function must be an object", cw);
          const std::string name = need_string(*f, "name", cw + ".function");
          const json* args = member(*f, "arguments");
          std::string arguments = args && args->is_string() ? args->get<std::string>() : args ? args->dump() : "{}";
          if (const json* id = member(call, "id"); id && id->is_string()) call_names[id->get<std::string>()] = name;
          c.turns.push_back(tool_call_message(name, std::move(arguments)));
        }
      }
    } else if (role == "tool") {
      std::string name;
      if (const json* id = member(m, "tool_call_id"); id && id->is_string() && call_names.count(id->get<std::string>()))
        name = call_names[id->get<std::string>()];
      else if (const json* n = member(m, "name"); n && n->is_string())
        name = n->get<std::string>();
      else
        throw bad_request(where + ": a tool message needs the tool_call_id of an earlier call", where + ".tool_call_id");
      c.turns.push_back(tool_result_message(name, text));
    } else {
      throw bad_request(where + ".role \"" + role + "\" is not one of system, developer, user, assistant, tool", where + ".role");
    }
  }
  tools_from(body, c);
  format_from(member(body, "response_format"), c, "response_format");
  budget_from(body, c, d, "reasoning_budget");
  sampling_from(body, p);
  std::optional<std::int64_t> max_tokens = integer(body, "max_completion_tokens", 0, std::int64_t(1) << 40);
  if (!max_tokens) max_tokens = integer(body, "max_tokens", 0, std::int64_t(1) << 40);
  if (const json* s = member(body, "stream")) {
    if (!s->is_boolean()) throw bad_request("stream must be a boolean", "stream");
    p.stream = s->get<bool>();
  }
  if (const json* so = member(body, "stream_options"); so && so->is_object())
    if (const json* u = member(*so, "include_usage"); u && u->is_boolean()) p.include_usage = u->get<bool>();
  if (const json* l = member(body, "logprobs")) {
    if (!l->is_boolean()) throw bad_request("logprobs must be a boolean", "logprobs");
    p.logprobs = l->get<bool>();
  }
  if (auto top = integer(body, "top_logprobs", 0, 20)) {
    if (!p.logprobs) throw bad_request("top_logprobs needs logprobs: true", "top_logprobs");
    p.request.top_logprobs = int(*top);
  } else if (p.logprobs) {
    p.request.top_logprobs = 0;
  }
  p.stop = stop_from(body);
  p.api = Api::chat;
  return finish_prepare(c, std::move(p), body, tok, d, max_tokens);
}

Prepared prepare_responses(const json& body, const text::Tokenizer& tok, const ServeDefaults& d) {
  if (!body.is_object()) throw bad_request("the request body must be a JSON object", "");
  Prepared p;
  Common c;
  if (const json* r = member(body, "reasoning"); r && r->is_object())
    if (const json* e = member(*r, "effort")) {
      if (!e->is_string()) throw bad_request("reasoning.effort must be a string", "reasoning.effort");
      c.system.reasoning_effort = effort_of(e->get<std::string>(), "reasoning.effort");
    }
  if (const json* i = member(body, "instructions")) {
    if (!i->is_string()) throw bad_request("instructions must be a string", "instructions");
    add_instructions(c, i->get<std::string>());
  }
  const json* input = member(body, "input");
  if (!input) throw bad_request("input is required", "input");
  if (input->is_string()) {
    c.turns.push_back(message(harmony::Role::user, input->get<std::string>()));
  } else if (input->is_array()) {
    std::map<std::string, std::string> call_names;
    for (std::size_t i = 0; i < input->size(); ++i) {
      const json& it = (*input)[i];
      const std::string where = "input[" + std::to_string(i) + "]";
      if (!it.is_object()) throw bad_request(where + " must be an object", where);
      const json* type = member(it, "type");
      const std::string t = type && type->is_string() ? type->get<std::string>() : "message";
      if (t == "message") {
        const std::string role = need_string(it, "role", where);
        const json* content = member(it, "content");
        const std::string text = content ? content_text(*content, where + ".content") : "";
        if (role == "system" || role == "developer") add_instructions(c, text);
        else if (role == "user") c.turns.push_back(message(harmony::Role::user, text));
        else if (role == "assistant") {
          harmony::Message a = message(harmony::Role::assistant, text);
          a.channel = "final";
          c.turns.push_back(std::move(a));
        } else
          throw bad_request(where + ".role \"" + role + "\" is not one of system, developer, user, assistant", where + ".role");
      } else if (t == "function_call") {
        const std::string name = need_string(it, "name", where);
        if (const json* id = member(it, "call_id"); id && id->is_string()) call_names[id->get<std::string>()] = name;
        const json* args = member(it, "arguments");
        c.turns.push_back(tool_call_message(name, args && args->is_string() ? args->get<std::string>() : "{}"));
      } else if (t == "function_call_output") {
        const std::string id = need_string(it, "call_id", where);
        if (!call_names.count(id)) throw bad_request(where + ".call_id names no earlier function_call", where + ".call_id");
        const json* out = member(it, "output");
        c.turns.push_back(tool_result_message(call_names[id], out && out->is_string() ? out->get<std::string>() : out ? out->dump() : ""));
      } else if (t == "reasoning") {
        // Earlier reasoning is dropped from the prompt, as Harmony drops analysis before a final answer.
      } else {
        throw bad_request(where + ".type \"" + t + "\" is not supported", where + ".type");
      }
    }
  } else {
    throw bad_request("input must be a string or an array of items", "input");
  }
  tools_from(body, c);
  if (const json* t = member(body, "text"); t && t->is_object()) format_from(member(*t, "format"), c, "text.format");
  budget_from(body, c, d, "reasoning_budget");
  sampling_from(body, p);
  auto max_tokens = integer(body, "max_output_tokens", 0, std::int64_t(1) << 40);
  if (const json* s = member(body, "stream")) {
    if (!s->is_boolean()) throw bad_request("stream must be a boolean", "stream");
    p.stream = s->get<bool>();
  }
  p.api = Api::responses;
  return finish_prepare(c, std::move(p), body, tok, d, max_tokens);
}

ReplyAssembler::ReplyAssembler(const text::Tokenizer& tok, std::string id_prefix, std::vector<std::string> stop)
    : tok_(tok), parser_(tok, harmony::Role::assistant, /*strict=*/false), raw_(tok), id_prefix_(std::move(id_prefix)),
      stop_(std::move(stop)) {}

void ReplyAssembler::add(std::vector<Delta>& out, Delta d) {
  if (stopped_) return;
  if (d.kind == Delta::Kind::content && !stop_.empty()) {
    // Hold back what could be the start of a stop string; cut at a stop string.
    held_ += d.text;
    for (const auto& s : stop_)
      if (auto at = held_.find(s); at != std::string::npos) {
        held_.resize(at);
        stopped_ = true;
      }
    std::size_t keep = 0;
    if (!stopped_)
      for (const auto& s : stop_)
        for (std::size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k)
          if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
            keep = k;
            break;
          }
    // Never split a UTF-8 character.
    while (keep < held_.size() && (held_[held_.size() - keep] & 0xC0) == 0x80) ++keep;
    d.text = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    if (d.text.empty()) return;
  }
  switch (d.kind) {
    case Delta::Kind::reasoning: reasoning += d.text; break;
    case Delta::Kind::content: content += d.text; break;
    case Delta::Kind::tool_call: calls[std::size_t(d.tool_index)].arguments += d.text; break;
  }
  out.push_back(std::move(d));
}

std::vector<Delta> ReplyAssembler::push(token_id t) {
  std::vector<Delta> out;
  if (stopped_) return out;
  if (raw_mode_) {
    if (t == harmony::tokens::return_ || t == harmony::tokens::call) return out;  // the reply's end, not text
    std::string s = raw_.feed(t);
    if (!s.empty()) add(out, {Delta::Kind::content, std::move(s)});
    return out;
  }
  try {
    const std::size_t before = parser_.messages().size();
    const bool in_content = parser_.state() == harmony::StreamParser::State::content;
    parser_.push(t);
    message_tokens_.push_back(t);
    if (parser_.state() == harmony::StreamParser::State::content && !in_content) {
      // A message begins: register a tool call at once, so that its name streams first.
      const auto recipient = parser_.current_recipient().value_or("");
      if (recipient.rfind("functions.", 0) == 0) {
        calls.push_back({id_prefix_ + std::to_string(calls.size()), recipient.substr(10), ""});
        Delta d{Delta::Kind::tool_call, ""};
        d.tool_index = int(calls.size()) - 1;
        d.tool_name = calls.back().name;
        d.tool_id = calls.back().id;
        out.push_back(d);
      }
    }
    if (const auto& text = parser_.last_content_delta(); text && !text->empty()) {
      const std::string channel = parser_.current_channel().value_or("");
      const std::string recipient = parser_.current_recipient().value_or("");
      message_emitted_ = true;
      if (recipient.rfind("functions.", 0) == 0) {
        Delta d{Delta::Kind::tool_call, *text};
        d.tool_index = int(calls.size()) - 1;
        add(out, std::move(d));
      } else if (channel == "analysis") {
        add(out, {Delta::Kind::reasoning, *text});
      } else {
        add(out, {Delta::Kind::content, *text});
      }
    }
    if (parser_.messages().size() != before) {
      message_tokens_.clear();
      message_emitted_ = false;
    }
    // A header is a few tokens; one this long is not Harmony, and its text should not wait for
    // the end of the reply.
    if (parser_.state() == harmony::StreamParser::State::header && message_tokens_.size() > max_header_tokens) {
      raw_mode_ = true;
      for (token_id m : message_tokens_) {
        std::string s = raw_.feed(m);
        if (!s.empty()) add(out, {Delta::Kind::content, std::move(s)});
      }
    }
  } catch (const harmony::harmony_error&) {
    // Not Harmony: from here on, raw text. A message none of whose text went out yet is given
    // whole (its header included); otherwise from the token that broke it.
    raw_mode_ = true;
    if (message_emitted_) message_tokens_.clear();
    if (t != harmony::tokens::return_ && t != harmony::tokens::call) message_tokens_.push_back(t);
    for (token_id m : message_tokens_) {
      std::string s = raw_.feed(m);
      if (!s.empty()) add(out, {Delta::Kind::content, std::move(s)});
    }
  }
  return out;
}

std::vector<Delta> ReplyAssembler::finish() {
  std::vector<Delta> out;
  if (raw_mode_) {
    std::string s = raw_.finish();
    if (!s.empty()) add(out, {Delta::Kind::content, std::move(s)});
  } else if (parser_.state() == harmony::StreamParser::State::header && !message_tokens_.empty()) {
    // Cut off inside a header: what there is, as raw text.
    std::string s = text::utf8::replace_invalid(tok_.decode(message_tokens_));
    if (!s.empty()) add(out, {Delta::Kind::content, std::move(s)});
  }
  if (!held_.empty() && !stopped_) {
    content += held_;
    out.push_back({Delta::Kind::content, held_});
    held_.clear();
  }
  return out;
}

json chat_message_json(const ReplyAssembler& a) {
  json m = {{"role", "assistant"}, {"content", a.content}};
  if (!a.reasoning.empty()) m["reasoning_content"] = a.reasoning;
  if (!a.calls.empty()) {
    json calls = json::array();
    for (const auto& c : a.calls)
      calls.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    m["tool_calls"] = calls;
    if (a.content.empty()) m["content"] = nullptr;
  }
  return m;
}

json usage_json(const engine::Result& r, Api api) {
  const auto completion = std::int64_t(r.tokens.size());
  if (api == Api::responses)
    return {{"input_tokens", r.prompt_tokens},
            {"input_tokens_details", {{"cached_tokens", r.cached_tokens}}},
            {"output_tokens", completion},
            {"output_tokens_details", {{"reasoning_tokens", 0}}},
            {"total_tokens", r.prompt_tokens + completion}};
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", r.prompt_tokens + completion},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

namespace {
json token_json(const text::Tokenizer& tok, token_id t, float logprob) {
  const std::string_view b = tok.token_bytes(t);
  json bytes = json::array();
  for (unsigned char c : b) bytes.push_back(int(c));
  return {{"token", text::utf8::replace_invalid(b)}, {"logprob", logprob}, {"bytes", bytes}};
}
}  // namespace

json logprobs_json(const text::Tokenizer& tok, const engine::Result& r) {
  json content = json::array();
  for (const auto& ev : r.events) {
    json e = token_json(tok, ev.token, ev.logprob);
    json top = json::array();
    for (const auto& c : ev.top) top.push_back(token_json(tok, c.token, c.logprob));
    e["top_logprobs"] = top;
    content.push_back(e);
  }
  return {{"content", content}};
}

std::string finish_reason(const engine::Result& r, const ReplyAssembler& a) {
  if (!a.calls.empty() && !a.stopped()) return "tool_calls";
  if (r.finish == engine::Finish::length && !a.stopped()) return "length";
  return "stop";
}

json error_json(const std::string& message, const std::string& type, const std::string& param, const std::string& code) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

}  // namespace gptoss::serve
