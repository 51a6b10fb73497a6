// Harmony messages as JSON, in the schema of the golden cases (shared/harmony/README.md), which is
// also what `gptoss harmony render|parse` reads and writes. Objects are nlohmann::ordered_json so
// JSON-Schema parameters keep their key order (the rendered tool text follows it).
//
// Input that does not fit the schema throws gptoss::input_error naming the field at fault.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/harmony/message.hpp"

namespace gptoss::harmony {

using ordered_json = nlohmann::ordered_json;

namespace detail {

inline const ordered_json& require_object(const ordered_json& j, const std::string& what) {
  if (!j.is_object()) throw input_error("harmony JSON: " + what + " must be an object");
  return j;
}

// obj[key] if present and not null.
inline const ordered_json* field(const ordered_json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

inline std::optional<std::string> opt_string(const ordered_json& obj, const char* key) {
  const ordered_json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw input_error(std::string("harmony JSON: '") + key + "' must be a string");
  return v->get<std::string>();
}

inline std::string req_string(const ordered_json& obj, const char* key) {
  auto s = opt_string(obj, key);
  if (!s) throw input_error(std::string("harmony JSON: '") + key + "' is required");
  return *s;
}

inline std::optional<bool> opt_bool(const ordered_json& obj, const char* key) {
  const ordered_json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw input_error(std::string("harmony JSON: '") + key + "' must be true or false");
  return v->get<bool>();
}

inline const ordered_json* opt_array(const ordered_json& obj, const char* key) {
  const ordered_json* v = field(obj, key);
  if (v && !v->is_array()) throw input_error(std::string("harmony JSON: '") + key + "' must be an array");
  return v;
}

inline Role role_from_json(const std::string& s) {
  auto r = role_from_string(s);
  if (!r) throw input_error("harmony JSON: unknown role '" + s + "'");
  return *r;
}

}  // namespace detail

inline ToolNamespace namespace_from_json(const ordered_json& j) {
  detail::require_object(j, "a tool namespace");
  ToolNamespace ns;
  ns.name = detail::req_string(j, "name");
  ns.description = detail::opt_string(j, "description");
  if (const ordered_json* tools = detail::opt_array(j, "tools"))
    for (const auto& t : *tools) {
      detail::require_object(t, "a tool");
      ToolDescription d;
      d.name = detail::req_string(t, "name");
      d.description = detail::opt_string(t, "description").value_or("");
      if (const ordered_json* p = detail::field(t, "parameters")) d.parameters = *p;
      d.strict = detail::opt_bool(t, "strict").value_or(false);
      ns.tools.push_back(std::move(d));
    }
  return ns;
}

inline ordered_json to_json(const ToolNamespace& ns) {
  ordered_json tools = ordered_json::array();
  for (const auto& t : ns.tools)
    tools.push_back({{"name", t.name},
                     {"description", t.description},
                     {"parameters", t.parameters ? *t.parameters : ordered_json()}});
  return {{"name", ns.name}, {"description", ns.description ? ordered_json(*ns.description) : ordered_json()},
          {"tools", tools}};
}

namespace detail {

inline std::vector<ToolNamespace> namespaces_from_json(const ordered_json& part) {
  std::vector<ToolNamespace> out;
  if (const ordered_json* tools = opt_array(part, "tools"))
    for (const auto& ns : *tools) out.push_back(namespace_from_json(ns));
  return out;
}

inline ordered_json namespaces_to_json(const std::vector<ToolNamespace>& tools) {
  if (tools.empty()) return nullptr;
  ordered_json out = ordered_json::array();
  for (const auto& ns : tools) out.push_back(to_json(ns));
  return out;
}

// The schema writes every system field out, `null` meaning absent; a missing key is absent too.
inline SystemContent system_from_json(const ordered_json& j) {
  SystemContent s;
  s.model_identity = opt_string(j, "model_identity");
  s.reasoning_effort = std::nullopt;
  s.knowledge_cutoff = opt_string(j, "knowledge_cutoff");
  s.conversation_start_date = opt_string(j, "conversation_start_date");
  s.channel_config = std::nullopt;
  s.tools = namespaces_from_json(j);
  if (auto e = opt_string(j, "reasoning_effort")) {
    if (*e == "low") s.reasoning_effort = ReasoningEffort::low;
    else if (*e == "medium") s.reasoning_effort = ReasoningEffort::medium;
    else if (*e == "high") s.reasoning_effort = ReasoningEffort::high;
    else throw input_error("harmony JSON: reasoning_effort must be low, medium or high, not '" + *e + "'");
  }
  if (const ordered_json* cc = field(j, "channel_config")) {
    require_object(*cc, "channel_config");
    ChannelConfig c;
    c.valid_channels.clear();
    c.channel_required = opt_bool(*cc, "channel_required").value_or(true);
    if (const ordered_json* chans = opt_array(*cc, "valid_channels"))
      for (const auto& ch : *chans) {
        if (!ch.is_string()) throw input_error("harmony JSON: valid_channels must hold strings");
        c.valid_channels.push_back(ch.get<std::string>());
      }
    s.channel_config = std::move(c);
  }
  return s;
}

template <class T>
ordered_json optional_json(const std::optional<T>& v) {
  return v ? ordered_json(*v) : ordered_json();
}

inline ordered_json part_to_json(const Content& c) {
  if (const auto* s = std::get_if<std::string>(&c)) return {{"type", "text"}, {"text", *s}};
  if (const auto* sys = std::get_if<SystemContent>(&c)) {
    ordered_json cc;
    if (sys->channel_config)
      cc = {{"valid_channels", sys->channel_config->valid_channels},
            {"channel_required", sys->channel_config->channel_required}};
    return {{"type", "system_content"},
            {"model_identity", optional_json(sys->model_identity)},
            {"reasoning_effort",
             sys->reasoning_effort ? ordered_json(std::string(to_string(*sys->reasoning_effort))) : ordered_json()},
            {"knowledge_cutoff", optional_json(sys->knowledge_cutoff)},
            {"conversation_start_date", optional_json(sys->conversation_start_date)},
            {"channel_config", cc},
            {"tools", namespaces_to_json(sys->tools)}};
  }
  const auto& dev = std::get<DeveloperContent>(c);
  return {{"type", "developer_content"},
          {"instructions", optional_json(dev.instructions)},
          {"tools", namespaces_to_json(dev.tools)}};
}

inline Content part_from_json(const ordered_json& p) {
  require_object(p, "a content part");
  std::string type = req_string(p, "type");
  if (type == "text") return req_string(p, "text");
  if (type == "system_content") return system_from_json(p);
  if (type == "developer_content") {
    DeveloperContent d;
    d.instructions = opt_string(p, "instructions");
    d.tools = namespaces_from_json(p);
    return d;
  }
  throw input_error("harmony JSON: unknown content part type '" + type + "'");
}

}  // namespace detail

inline Message message_from_json(const ordered_json& j) {
  detail::require_object(j, "a message");
  Message m;
  m.role = detail::role_from_json(detail::req_string(j, "role"));
  m.name = detail::opt_string(j, "name");
  m.recipient = detail::opt_string(j, "recipient");
  m.channel = detail::opt_string(j, "channel");
  m.content_type = detail::opt_string(j, "content_type");
  if (const ordered_json* c = detail::field(j, "content")) {
    if (c->is_string()) m.content.push_back(c->get<std::string>());
    else if (c->is_array())
      for (const auto& p : *c) m.content.push_back(detail::part_from_json(p));
    else throw input_error("harmony JSON: 'content' must be a string or an array of parts");
  }
  return m;
}

// Absent fields are left out; a message with one text part has a string `content`.
inline ordered_json to_json(const Message& m) {
  ordered_json j = {{"role", std::string(to_string(m.role))}};
  if (m.name) j["name"] = *m.name;
  if (m.recipient) j["recipient"] = *m.recipient;
  if (m.channel) j["channel"] = *m.channel;
  if (m.content_type) j["content_type"] = *m.content_type;
  if (m.content.size() == 1 && std::holds_alternative<std::string>(m.content[0])) {
    j["content"] = std::get<std::string>(m.content[0]);
  } else {
    j["content"] = ordered_json::array();
    for (const auto& c : m.content) j["content"].push_back(detail::part_to_json(c));
  }
  return j;
}

inline std::vector<Message> messages_from_json(const ordered_json& j) {
  if (!j.is_array()) throw input_error("harmony JSON: 'messages' must be an array");
  std::vector<Message> out;
  for (const auto& m : j) out.push_back(message_from_json(m));
  return out;
}

inline ordered_json to_json(const std::vector<Message>& messages) {
  ordered_json out = ordered_json::array();
  for (const auto& m : messages) out.push_back(to_json(m));
  return out;
}

// A list of token ids; each must fit token_id (ids outside the vocabulary are the parser's business).
inline std::vector<token_id> token_ids_from_json(const ordered_json& j) {
  if (!j.is_array()) throw input_error("harmony JSON: 'tokens' must be an array of token ids");
  std::vector<token_id> out;
  out.reserve(j.size());
  for (const auto& t : j) {
    if (!t.is_number_unsigned() || t.get<std::uint64_t>() > std::numeric_limits<token_id>::max())
      throw input_error("harmony JSON: token ids must be integers in 0..4294967295");
    out.push_back(static_cast<token_id>(t.get<std::uint64_t>()));
  }
  return out;
}

}  // namespace gptoss::harmony
