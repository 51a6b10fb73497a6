// Reading the OpenAI-style request fields that ask for structure, for the programs that take them
// (the CLI's --json-schema/--tools files, a server's requests): response_format (Chat
// Completions) and text.format (Responses), tool_choice, and function tools with `strict`.
// Anything malformed is an input_error naming the field.
#pragma once
#include <string>
#include <vector>

#include "gptoss/constrain/constraint.hpp"

namespace gptoss::constrain {

namespace detail {

inline const ojson* member(const ojson& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

inline std::string string_field(const ojson& j, const char* key, const std::string& where) {
  const ojson* v = member(j, key);
  if (!v || !v->is_string()) throw input_error(where + "." + key + " must be a string");
  return v->get<std::string>();
}

}  // namespace detail

// {"type":"text"}, {"type":"json_object"}, {"type":"json_schema","json_schema":{"schema":{...}}}
// (Chat Completions) or {"type":"json_schema","schema":{...}} (Responses' text.format). The schema
// is not compiled here: the Constraint does it, refusing what it cannot enforce.
inline ResponseFormat response_format_from_json(const ojson& j, const std::string& where = "response_format") {
  const std::string type = detail::string_field(j, "type", where);
  if (type == "text") return {};
  if (type == "json_object") return {ResponseFormat::Kind::json_object, {}};
  if (type == "json_schema") {
    const ojson* holder = detail::member(j, "json_schema");
    const ojson* schema = holder ? detail::member(*holder, "schema") : detail::member(j, "schema");
    if (!schema) throw input_error(where + (holder ? ".json_schema.schema" : ".schema") + " is required");
    return {ResponseFormat::Kind::json_schema, *schema};
  }
  throw input_error(where + ".type must be text, json_object or json_schema, not \"" + type + "\"");
}

// "auto", "none", "required", {"type":"function","function":{"name":"f"}} or {"type":"function","name":"f"}.
inline ToolChoice tool_choice_from_json(const ojson& j, const std::string& where = "tool_choice") {
  if (j.is_string()) {
    const auto s = j.get<std::string>();
    if (s == "auto") return {};
    if (s == "none") return {ToolChoice::Mode::none, ""};
    if (s == "required") return {ToolChoice::Mode::required, ""};
    throw input_error(where + " must be auto, none, required or a function, not \"" + s + "\"");
  }
  if (detail::string_field(j, "type", where) != "function") throw input_error(where + ".type must be \"function\"");
  if (const ojson* f = detail::member(j, "function")) return {ToolChoice::Mode::function, detail::string_field(*f, "name", where + ".function")};
  return {ToolChoice::Mode::function, detail::string_field(j, "name", where)};
}

// An array of function tools, each {"type":"function","function":{name, description, parameters,
// strict}} (Chat Completions), {"type":"function", name, ...} (Responses) or {name, ...}.
inline std::vector<harmony::ToolDescription> function_tools_from_json(const ojson& j, const std::string& where = "tools") {
  if (!j.is_array()) throw input_error(where + " must be an array");
  std::vector<harmony::ToolDescription> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const ojson* t = &j[i];
    if (!t->is_object()) throw input_error(at + " must be an object");
    if (const ojson* type = detail::member(*t, "type"); type && (!type->is_string() || type->get<std::string>() != "function"))
      throw input_error(at + ".type: only function tools are supported");
    if (const ojson* f = detail::member(*t, "function")) t = f;
    harmony::ToolDescription d;
    d.name = detail::string_field(*t, "name", at);
    if (d.name.empty() || d.name.find_first_of(" \t\n<>") != std::string::npos) throw input_error(at + ".name must be a name without spaces or <>");
    if (const ojson* desc = detail::member(*t, "description")) {
      if (!desc->is_string()) throw input_error(at + ".description must be a string");
      d.description = desc->get<std::string>();
    }
    if (const ojson* p = detail::member(*t, "parameters")) d.parameters = *p;
    if (const ojson* s = detail::member(*t, "strict")) {
      if (!s->is_boolean()) throw input_error(at + ".strict must be true or false");
      d.strict = s->get<bool>();
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace gptoss::constrain
