// The "# Tools" section of system and developer messages: tool namespaces, with each function's
// JSON-Schema parameters written in the TypeScript-like form the gpt-oss models were trained on.
// The output reproduces the reference renderer byte for byte, including its odd spots (nested
// object indentation, only the first line of a multi-line property description commented, examples
// and string defaults not escaped): the models saw exactly this text.
#pragma once
#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/harmony/message.hpp"

namespace gptoss::harmony {

namespace detail {

using ojson = nlohmann::ordered_json;

// schema[key] if schema is an object that has it, else nullptr (schemas may be any JSON value).
inline const ojson* member(const ojson& schema, std::string_view key) {
  if (!schema.is_object()) return nullptr;
  auto it = schema.find(key);
  return it == schema.end() ? nullptr : &*it;
}

inline const std::string* string_member(const ojson& schema, std::string_view key) {
  const ojson* v = member(schema, key);
  return v && v->is_string() ? v->get_ptr<const std::string*>() : nullptr;
}

inline bool is_true(const ojson& schema, std::string_view key) {
  const ojson* v = member(schema, key);
  return v && v->is_boolean() && v->get<bool>();
}

inline bool has_enum(const ojson& schema) {
  const ojson* e = member(schema, "enum");
  return e && e->is_array() && !e->empty();
}

inline std::string compact(const ojson& v) { return v.dump(-1, ' ', false, ojson::error_handler_t::replace); }

// `default: ...` of a property or oneOf variant: a string is quoted (unescaped) unless the schema
// is an enum, then it is bare; anything else is compact JSON.
inline std::string default_comment(const ojson& schema, const ojson& value) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    return has_enum(schema) ? "default: " + s : "default: \"" + s + "\"";
  }
  return "default: " + compact(value);
}

inline std::string with_nullable(const ojson& schema, std::string ts) {
  if (is_true(schema, "nullable") && ts.find("null") == std::string::npos) ts += " | null";
  return ts;
}

// Rust's str::lines(): split on '\n', drop one trailing '\r' per line, no empty last line.
inline std::vector<std::string_view> lines(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    std::size_t nl = s.find('\n');
    std::string_view line = s.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    s = nl == std::string_view::npos ? std::string_view() : s.substr(nl + 1);
  }
  return out;
}

inline std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

inline std::string schema_to_typescript(const ojson& schema, const std::string& indent);

// A property whose value has a `oneOf` array: comments above the name, then one line per variant.
inline void render_oneof_property(std::string& out, const std::string& key, const ojson& prop, const ojson& variants,
                                  bool required, const std::string& indent) {
  const std::string* prop_desc = string_member(prop, "description");
  const std::string* first_desc = variants.empty() ? nullptr : string_member(variants.front(), "description");
  bool desc_above = prop_desc && !(first_desc && *first_desc == *prop_desc);
  if (desc_above) out += indent + "// " + *prop_desc + "\n";
  if (const ojson* d = member(prop, "default")) out += indent + "// " + default_comment(prop, *d) + "\n";
  out += indent + key + (required ? "" : "?") + ":\n";
  for (std::size_t i = 0; i < variants.size(); ++i) {
    const ojson& v = variants[i];
    out += indent + " | " + with_nullable(v, schema_to_typescript(v, indent + "   "));
    std::vector<std::string> comments;
    const std::string* vdesc = string_member(v, "description");
    if (vdesc && !(i == 0 && desc_above) && !(prop_desc && *vdesc == *prop_desc)) comments.push_back(*vdesc);
    if (const ojson* d = member(v, "default")) comments.push_back(default_comment(v, *d));
    if (!comments.empty()) out += " // " + join(comments, " ");
    out += "\n";
  }
  out += indent + ",\n";
}

inline std::string object_to_typescript(const ojson& schema, const std::string& indent) {
  std::string out;
  if (const std::string* d = string_member(schema, "description")) out += indent + "// " + *d + "\n";
  out += "{\n";
  const ojson* props = member(schema, "properties");
  if (props && props->is_object()) {
    std::vector<std::string> required;
    if (const ojson* r = member(schema, "required"); r && r->is_array())
      for (const auto& x : *r)
        if (x.is_string()) required.push_back(x.get<std::string>());
    for (const auto& [key, prop] : props->items()) {
      bool is_required = std::find(required.begin(), required.end(), key) != required.end();
      const ojson* one_of = member(prop, "oneOf");
      if (const std::string* t = string_member(prop, "title")) out += indent + "// " + *t + "\n" + indent + "//\n";
      if (const std::string* d = string_member(prop, "description"); d && !one_of) out += indent + "// " + *d + "\n";
      if (const ojson* ex = member(prop, "examples"); ex && ex->is_array() && !ex->empty()) {
        out += indent + "// Examples:\n";
        for (const auto& e : *ex)
          if (e.is_string()) out += indent + "// - \"" + e.get<std::string>() + "\"\n";
      }
      if (one_of && one_of->is_array()) {
        render_oneof_property(out, key, prop, *one_of, is_required, indent);
        continue;
      }
      out += indent + key + (is_required ? "" : "?") + ": ";
      out += with_nullable(prop, schema_to_typescript(prop, indent + "    ")) + ",";
      if (const ojson* d = member(prop, "default"); d && !one_of) out += " // " + default_comment(prop, *d);
      out += "\n";
    }
  }
  out += indent + "}";
  return out;
}

inline std::string schema_to_typescript(const ojson& schema, const std::string& indent) {
  if (const ojson* one_of = member(schema, "oneOf"); one_of && one_of->is_array()) {
    std::string out;
    for (const auto& v : *one_of) {
      out += "\n" + indent + " | " + with_nullable(v, schema_to_typescript(v, indent + "   "));
      std::vector<std::string> comments;
      if (const std::string* d = string_member(v, "description")) comments.push_back(*d);
      if (const ojson* d = member(v, "default")) comments.push_back("default: " + compact(*d));
      if (!comments.empty()) out += " // " + join(comments, " ");
    }
    return out;
  }
  const ojson* type = member(schema, "type");
  if (type && type->is_array()) {
    std::vector<std::string> names;
    for (const auto& t : *type)
      if (t.is_string()) names.push_back(t == "integer" ? "number" : t.get<std::string>());
    if (!names.empty()) return join(names, " | ");
  }
  if (!type || !type->is_string()) return "any";
  const auto& t = type->get_ref<const std::string&>();
  if (t == "object") return object_to_typescript(schema, indent);
  if (t == "string") {
    std::vector<std::string> members;
    if (const ojson* e = member(schema, "enum"); e && e->is_array())
      for (const auto& x : *e)
        if (x.is_string()) members.push_back("\"" + x.get<std::string>() + "\"");
    return members.empty() ? "string" : join(members, " | ");
  }
  if (t == "number" || t == "integer") return "number";
  if (t == "boolean") return "boolean";
  if (t == "array") {
    const ojson* items = member(schema, "items");
    return items ? schema_to_typescript(*items, indent) + "[]" : "Array<any>";
  }
  return "any";
}

}  // namespace detail

// JSON Schema -> the TypeScript-like parameter type of a tool (`{ location: string, ... }`).
inline std::string schema_to_typescript(const nlohmann::ordered_json& schema) {
  return detail::schema_to_typescript(schema, "");
}

// Namespaces keyed by name: emitted sorted by name; a repeated name keeps the last definition.
inline std::map<std::string, const ToolNamespace*> namespaces_by_name(const std::vector<ToolNamespace>& tools) {
  std::map<std::string, const ToolNamespace*> out;
  for (const auto& ns : tools) out[ns.name] = &ns;
  return out;
}

// The "# Tools" section for a non-empty list of namespaces.
inline std::string tools_section(const std::vector<ToolNamespace>& tools) {
  std::vector<std::string> blocks{"# Tools"};
  for (const auto& [name, ns] : namespaces_by_name(tools)) {
    std::vector<std::string> lines{"## " + name + "\n"};
    bool has_tools = !ns->tools.empty();
    if (ns->description)
      for (auto line : detail::lines(*ns->description))
        lines.push_back((has_tools ? "// " : "") + std::string(line));
    if (has_tools) {
      lines.push_back("namespace " + name + " {\n");
      for (const auto& tool : ns->tools) {
        for (auto line : detail::lines(tool.description)) lines.push_back("// " + std::string(line));
        lines.push_back("type " + tool.name + " = " +
                        (tool.parameters ? "(_: " + schema_to_typescript(*tool.parameters) + ")" : std::string("()")) +
                        " => any;\n");
      }
      lines.push_back("} // namespace " + name);
    }
    blocks.push_back(detail::join(lines, "\n"));
  }
  return detail::join(blocks, "\n\n");
}

}  // namespace gptoss::harmony
