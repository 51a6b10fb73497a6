// A small JSON Schema validator for the tests, written apart from the constraint engine (it checks
// parsed values, not bytes): the independent judge of the documents the engine accepts. Covers
// the keywords the engine supports; `pattern` uses std::regex (ECMAScript) with search semantics.
#pragma once
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

namespace test {

using json = nlohmann::ordered_json;

inline std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline bool validate(const json& v, const json& s, const json& root);

inline const json& resolve(const std::string& ref, const json& root) {
  if (ref == "#") return root;
  for (std::string p : {"#/$defs/", "#/definitions/"})
    if (ref.rfind(p, 0) == 0) return root[p.substr(2, p.size() - 3)][ref.substr(p.size())];
  throw std::runtime_error("bad ref " + ref);
}

inline bool has_type(const json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_number_integer() || v.is_number_unsigned() || (v.is_number_float() && v.get<double>() == std::floor(v.get<double>()));
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  return false;
}

// Equality as JSON Schema means it (1 == 1.0).
inline bool json_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

inline bool validate(const json& v, const json& s, const json& root) {
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) return validate(v, resolve(s["$ref"].get<std::string>(), root), root);
  if (s.contains("anyOf")) {
    bool any = false;
    for (const auto& o : s["anyOf"]) any = any || validate(v, o, root);
    if (!any) return false;
  }
  if (s.contains("type")) {
    bool ok = false;
    if (s["type"].is_array()) {
      for (const auto& t : s["type"]) ok = ok || has_type(v, t.get<std::string>());
    } else {
      ok = has_type(v, s["type"].get<std::string>());
    }
    if (!ok) return false;
  }
  if (s.contains("const") && !json_equal(v, s["const"])) return false;
  if (s.contains("enum")) {
    bool ok = false;
    for (const auto& e : s["enum"]) ok = ok || json_equal(v, e);
    if (!ok) return false;
  }
  if (v.is_object()) {
    if (s.contains("required"))
      for (const auto& r : s["required"])
        if (!v.contains(r.get<std::string>())) return false;
    for (const auto& [k, x] : v.items()) {
      if (s.contains("properties") && s["properties"].contains(k)) {
        if (!validate(x, s["properties"][k], root)) return false;
      } else if (s.contains("additionalProperties")) {
        if (!validate(x, s["additionalProperties"], root)) return false;
      }
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<std::size_t>()) return false;
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<std::size_t>()) return false;
    if (s.contains("items"))
      for (const auto& x : v)
        if (!validate(x, s["items"], root)) return false;
  }
  if (v.is_string()) {
    const auto& str = v.get_ref<const std::string&>();
    if (s.contains("minLength") && code_points(str) < s["minLength"].get<std::size_t>()) return false;
    if (s.contains("maxLength") && code_points(str) > s["maxLength"].get<std::size_t>()) return false;
    if (s.contains("pattern") && !std::regex_search(str, std::regex(s["pattern"].get<std::string>(), std::regex::ECMAScript)))
      return false;
  }
  return true;
}

inline bool validate(const json& v, const json& schema) { return validate(v, schema, schema); }

}  // namespace test
