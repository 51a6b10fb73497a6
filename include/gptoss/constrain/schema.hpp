// JSON Schema -> Grammar: the schema compiled to a graph of value nodes that the byte-level JSON
// matcher (json_matcher.hpp) runs. Every keyword is either supported, an annotation (ignored by
// validators too: title, description, default, examples, ...), or refused with a schema_error that
// names the keyword and its JSON path: nothing is silently ignored.
//
// Supported: type (a name or a list of names), properties, required, additionalProperties (false,
// true or a schema), items, minItems, maxItems, minLength, maxLength, pattern (the subset of
// detail/regex.hpp; not together with minLength/maxLength), enum, const, anyOf, $ref to "#",
// "#/$defs/NAME" or "#/definitions/NAME", and $defs/definitions. json_object() is any JSON object.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/constrain/detail/regex.hpp"
#include "gptoss/core/error.hpp"

namespace gptoss::constrain {

using ojson = nlohmann::ordered_json;

// A schema the compiler refuses: malformed, unsupported, unsatisfiable or over a limit. `path` is
// the JSON pointer of the offending keyword, e.g. "/properties/when/format".
struct schema_error : input_error {
  schema_error(const std::string& path, const std::string& what)
      : input_error("JSON schema: " + (path.empty() ? std::string("/") : path) + ": " + what), path(path), reason(what) {}
  std::string path;    // JSON pointer of the keyword at fault ("" for the whole schema)
  std::string reason;  // what is wrong with it
};

struct SchemaLimits {
  std::size_t max_nodes = 20000;        // grammar nodes (schema size, after $ref sharing)
  std::size_t max_schema_depth = 64;    // nesting of the schema document itself
  std::size_t max_properties = 64;      // declared properties of one object
  std::size_t max_enum = 1000;          // values of one enum
  std::size_t max_literal_bytes = 4096; // one enum/const value, serialized
  int max_value_depth = 20;             // nesting of generated JSON containers
  int max_whitespace = 2;               // bytes of whitespace between two JSON tokens
  detail::RegexLimits regex;
};

enum class NodeKind : std::uint8_t { object, array, string, number, integer, literal, any_of };

inline constexpr std::uint32_t unbounded = std::numeric_limits<std::uint32_t>::max();

struct Property {
  std::string key;  // the key as a JSON string literal, quotes included
  std::uint32_t value;
  bool required;
};

struct Node {
  NodeKind kind = NodeKind::any_of;
  // object
  std::vector<Property> props;
  std::int64_t additional = -1;  // node of additional properties' values, -1: none allowed
  std::uint64_t required_mask = 0;
  // array
  std::uint32_t items = 0, min_items = 0, max_items = unbounded;
  // string
  std::uint32_t min_length = 0, max_length = unbounded;
  std::int32_t pattern = -1;  // index into Grammar::patterns
  // literal: compact JSON text
  std::string literal;
  // any_of
  std::vector<std::uint32_t> options;
  // Containers needed to complete a value of this node (unbounded: no finite value exists).
  std::uint32_t need = unbounded;
};

struct Grammar {
  std::vector<Node> nodes;
  std::vector<detail::ByteDfa> patterns;
  std::uint32_t root = 0;
  int max_value_depth = 20;
  int max_whitespace = 2;
};

namespace detail {

class SchemaCompiler {
 public:
  SchemaCompiler(const ojson& root, const SchemaLimits& lim) : root_(root), lim_(lim) { g_.max_value_depth = lim.max_value_depth, g_.max_whitespace = lim.max_whitespace; }

  Grammar run() {
    g_.root = compile(root_, "", 0);
    finish();
    return std::move(g_);
  }

  Grammar any_object() {
    g_.root = any_object_node();
    finish();
    return std::move(g_);
  }

 private:
  [[noreturn]] static void fail(const std::string& path, const std::string& what) { throw schema_error(path, what); }

  std::uint32_t add(Node n) {
    if (g_.nodes.size() >= lim_.max_nodes) fail("", "schema too large (more than " + std::to_string(lim_.max_nodes) + " nodes)");
    g_.nodes.push_back(std::move(n));
    return std::uint32_t(g_.nodes.size() - 1);
  }

  std::uint32_t literal(const ojson& v, const std::string& path) {
    Node n;
    n.kind = NodeKind::literal;
    n.literal = v.dump(-1, ' ', false, ojson::error_handler_t::strict);
    if (n.literal.size() > lim_.max_literal_bytes) fail(path, "value longer than " + std::to_string(lim_.max_literal_bytes) + " bytes");
    return add(std::move(n));
  }

  // Any JSON value (objects and arrays of any values): built once.
  std::uint32_t any_value() {
    if (any_ >= 0) return std::uint32_t(any_);
    Node a;
    a.kind = NodeKind::any_of;
    any_ = add(a);
    Node obj;
    obj.kind = NodeKind::object;
    obj.additional = any_;
    Node arr;
    arr.kind = NodeKind::array;
    arr.items = std::uint32_t(any_);
    Node str;
    str.kind = NodeKind::string;
    Node num;
    num.kind = NodeKind::number;
    std::vector<std::uint32_t> opts{add(obj), add(arr), add(str), add(num), literal(true, ""), literal(false, ""), literal(nullptr, "")};
    g_.nodes[std::size_t(any_)].options = opts;
    return std::uint32_t(any_);
  }

  std::uint32_t any_object_node() {
    Node obj;
    obj.kind = NodeKind::object;
    obj.additional = any_value();
    return add(obj);
  }

  static bool is_annotation(const std::string& k) {
    static const std::set<std::string> a = {"title", "description", "default", "examples", "$comment", "$schema", "$id",
                                            "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict", "nullable"};
    return a.count(k) > 0;
  }

  static bool type_matches(const ojson& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number_integer() || v.is_number_unsigned() || (v.is_number_float() && v.get<double>() == double(std::int64_t(v.get<double>())));
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    return false;
  }

  std::uint32_t resolve_ref(const std::string& ref, const std::string& path, int depth) {
    if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
    const ojson* target = nullptr;
    if (ref == "#") {
      target = &root_;
    } else {
      for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
        std::string p = prefix;
        if (ref.rfind(p, 0) == 0) {
          std::string name = ref.substr(p.size());
          const std::string section = p.substr(2, p.size() - 3);
          if (name.find('/') != std::string::npos || name.find('~') != std::string::npos)
            fail(path, "$ref \"" + ref + "\": only #, #/$defs/NAME and #/definitions/NAME are supported");
          if (root_.is_object() && root_.contains(section) && root_[section].is_object() && root_[section].contains(name))
            target = &root_[section][name];
          else
            fail(path, "$ref \"" + ref + "\" points to nothing");
        }
      }
    }
    if (!target) fail(path, "$ref \"" + ref + "\": only #, #/$defs/NAME and #/definitions/NAME are supported");
    // A placeholder any_of with one option, filled once the target is compiled (recursion safe).
    Node placeholder;
    placeholder.kind = NodeKind::any_of;
    std::uint32_t id = add(placeholder);
    refs_[ref] = id;
    std::string target_path = ref == "#" ? "" : ref.substr(1);
    std::uint32_t t = compile(*target, target_path, depth + 1);
    g_.nodes[id].options = {t};
    return id;
  }

  std::uint32_t compile(const ojson& s, const std::string& path, int depth) {
    if (std::size_t(depth) > lim_.max_schema_depth) fail(path, "schema nested deeper than " + std::to_string(lim_.max_schema_depth));
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail(path, "the schema false matches nothing");
      return any_value();
    }
    if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
    for (const auto& [k, v] : s.items()) {
      static const std::set<std::string> known = {"type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
                                                  "minLength", "maxLength", "pattern", "enum", "const", "anyOf", "$ref"};
      if (!known.count(k) && !is_annotation(k)) fail(path + "/" + k, "unsupported keyword \"" + k + "\"");
    }
    if (auto it = s.find("$ref"); it != s.end()) {
      if (!it->is_string()) fail(path + "/$ref", "must be a string");
      for (const auto& [k, v] : s.items())
        if (k != "$ref" && !is_annotation(k)) fail(path + "/" + k, "keyword \"" + k + "\" beside $ref is not supported");
      return resolve_ref(it->get<std::string>(), path + "/$ref", depth);
    }
    if (auto it = s.find("anyOf"); it != s.end()) {
      if (!it->is_array() || it->empty()) fail(path + "/anyOf", "must be a non-empty array of schemas");
      for (const auto& [k, v] : s.items())
        if (k != "anyOf" && !is_annotation(k)) fail(path + "/" + k, "keyword \"" + k + "\" beside anyOf is not supported");
      Node n;
      n.kind = NodeKind::any_of;
      for (std::size_t i = 0; i < it->size(); ++i) n.options.push_back(compile((*it)[i], path + "/anyOf/" + std::to_string(i), depth + 1));
      return add(std::move(n));
    }
    // The types allowed (all when there is no `type`).
    std::vector<std::string> types;
    bool typed = s.contains("type");
    if (typed) {
      const ojson& t = s["type"];
      auto check = [&](const ojson& x) {
        static const std::set<std::string> names = {"object", "array", "string", "number", "integer", "boolean", "null"};
        if (!x.is_string() || !names.count(x.get<std::string>())) fail(path + "/type", "unknown type " + x.dump());
        types.push_back(x.get<std::string>());
      };
      if (t.is_array()) {
        if (t.empty()) fail(path + "/type", "an empty list of types matches nothing");
        for (const auto& x : t) check(x);
      } else {
        check(t);
      }
    } else {
      types = {"object", "array", "string", "number", "integer", "boolean", "null"};
    }
    auto has_type = [&](const std::string& t) { return std::find(types.begin(), types.end(), t) != types.end(); };

    if (s.contains("enum") || s.contains("const")) {
      for (const auto& [k, v] : s.items())
        if (k != "enum" && k != "const" && k != "type" && !is_annotation(k))
          fail(path + "/" + k, "keyword \"" + k + "\" beside enum/const is not supported");
      if (s.contains("enum") && s.contains("const")) fail(path + "/const", "enum and const together are not supported");
      std::vector<const ojson*> values;
      std::string where = s.contains("enum") ? path + "/enum" : path + "/const";
      if (s.contains("enum")) {
        if (!s["enum"].is_array() || s["enum"].empty()) fail(where, "must be a non-empty array");
        if (s["enum"].size() > lim_.max_enum) fail(where, "more than " + std::to_string(lim_.max_enum) + " values");
        for (const auto& v : s["enum"]) values.push_back(&v);
      } else {
        values.push_back(&s["const"]);
      }
      Node n;
      n.kind = NodeKind::any_of;
      std::set<std::string> seen;
      for (const ojson* v : values) {
        bool ok = !typed;
        for (const auto& t : types) ok = ok || type_matches(*v, t);
        if (!ok) continue;
        if (v->is_number_float() && !std::isfinite(v->get<double>())) continue;
        std::uint32_t id = literal(*v, where);
        if (seen.insert(g_.nodes[id].literal).second) n.options.push_back(id);
      }
      if (n.options.empty()) fail(where, "no value matches the schema's type");
      return add(std::move(n));
    }

    // Keywords of each type apply only to values of that type.
    auto want_uint = [&](const char* key, std::uint32_t dflt) -> std::uint32_t {
      auto it = s.find(key);
      if (it == s.end()) return dflt;
      if (!(it->is_number_unsigned() || (it->is_number_integer() && it->get<std::int64_t>() >= 0)))
        fail(path + "/" + key, "must be a non-negative integer");
      std::uint64_t v = it->get<std::uint64_t>();
      return v >= unbounded ? unbounded - 1 : std::uint32_t(v);
    };

    Node opts;
    opts.kind = NodeKind::any_of;
    if (has_type("object")) {
      Node o;
      o.kind = NodeKind::object;
      std::set<std::string> names;
      if (auto it = s.find("properties"); it != s.end()) {
        if (!it->is_object()) fail(path + "/properties", "must be an object");
        if (it->size() > lim_.max_properties) fail(path + "/properties", "more than " + std::to_string(lim_.max_properties) + " properties");
        for (const auto& [k, v] : it->items()) {
          std::string key_path = path + "/properties/" + k;
          o.props.push_back({ojson(k).dump(), compile(v, key_path, depth + 1), false});
          names.insert(k);
        }
      }
      if (auto it = s.find("additionalProperties"); it != s.end()) {
        if (it->is_boolean()) o.additional = it->get<bool>() ? std::int64_t(any_value()) : -1;
        else o.additional = compile(*it, path + "/additionalProperties", depth + 1);
      } else {
        o.additional = any_value();
      }
      if (auto it = s.find("required"); it != s.end()) {
        if (!it->is_array()) fail(path + "/required", "must be an array of strings");
        for (const auto& r : *it) {
          if (!r.is_string()) fail(path + "/required", "must be an array of strings");
          std::string k = r.get<std::string>();
          if (!names.count(k)) {
            if (o.additional < 0) fail(path + "/required", "\"" + k + "\" is required but not allowed (not in properties, additionalProperties false)");
            if (o.props.size() >= lim_.max_properties) fail(path + "/required", "more than " + std::to_string(lim_.max_properties) + " properties");
            o.props.push_back({ojson(k).dump(), std::uint32_t(o.additional), false});
            names.insert(k);
          }
          for (std::size_t i = 0; i < o.props.size(); ++i)
            if (o.props[i].key == ojson(k).dump()) o.props[i].required = true, o.required_mask |= std::uint64_t(1) << i;
        }
      }
      opts.options.push_back(add(std::move(o)));
    } else {
      for (const char* k : {"properties", "required", "additionalProperties"})
        if (s.contains(k)) fail(path + "/" + k, std::string("keyword \"") + k + "\" needs type object");
    }
    if (has_type("array")) {
      Node a;
      a.kind = NodeKind::array;
      if (auto it = s.find("items"); it != s.end()) {
        if (it->is_array()) fail(path + "/items", "tuple items (an array of schemas) are not supported");
        a.items = compile(*it, path + "/items", depth + 1);
      } else {
        a.items = any_value();
      }
      a.min_items = want_uint("minItems", 0);
      a.max_items = want_uint("maxItems", unbounded);
      if (a.min_items > a.max_items) fail(path + "/minItems", "minItems is greater than maxItems");
      opts.options.push_back(add(std::move(a)));
    } else {
      for (const char* k : {"items", "minItems", "maxItems"})
        if (s.contains(k)) fail(path + "/" + k, std::string("keyword \"") + k + "\" needs type array");
    }
    if (has_type("string")) {
      Node st;
      st.kind = NodeKind::string;
      st.min_length = want_uint("minLength", 0);
      st.max_length = want_uint("maxLength", unbounded);
      if (st.min_length > st.max_length) fail(path + "/minLength", "minLength is greater than maxLength");
      if (auto it = s.find("pattern"); it != s.end()) {
        if (!it->is_string()) fail(path + "/pattern", "must be a string");
        if (s.contains("minLength") || s.contains("maxLength"))
          fail(path + "/pattern", "pattern together with minLength/maxLength is not supported (use {n,m} in the pattern)");
        try {
          g_.patterns.push_back(compile_pattern(it->get<std::string>(), lim_.regex));
        } catch (const regex_error& e) {
          fail(path + "/pattern", e.what());
        }
        st.pattern = std::int32_t(g_.patterns.size() - 1);
      }
      opts.options.push_back(add(std::move(st)));
    } else {
      for (const char* k : {"minLength", "maxLength", "pattern"})
        if (s.contains(k)) fail(path + "/" + k, std::string("keyword \"") + k + "\" needs type string");
    }
    if (has_type("number")) {
      Node n;
      n.kind = NodeKind::number;
      opts.options.push_back(add(std::move(n)));
    } else if (has_type("integer")) {
      Node n;
      n.kind = NodeKind::integer;
      opts.options.push_back(add(std::move(n)));
    }
    if (has_type("boolean")) {
      opts.options.push_back(literal(true, path));
      opts.options.push_back(literal(false, path));
    }
    if (has_type("null")) opts.options.push_back(literal(nullptr, path));
    if (opts.options.size() == 1) return opts.options[0];
    return add(std::move(opts));
  }

  // How many nested containers each node needs to be completed (a fixed point, so recursive
  // $refs work); a schema whose root needs infinitely many, or more than the depth limit, matches
  // no JSON we can write.
  void finish() {
    auto& N = g_.nodes;
    for (bool changed = true; changed;) {
      changed = false;
      for (auto& n : N) {
        std::uint64_t need = unbounded;
        switch (n.kind) {
          case NodeKind::string:
          case NodeKind::number:
          case NodeKind::integer:
          case NodeKind::literal: need = 0; break;
          case NodeKind::any_of:
            for (auto o : n.options) need = std::min<std::uint64_t>(need, N[o].need);
            break;
          case NodeKind::array:
            need = n.min_items == 0 ? 1 : N[n.items].need == unbounded ? unbounded : 1 + std::uint64_t(N[n.items].need);
            break;
          case NodeKind::object: {
            std::uint64_t inner = 0;
            for (const auto& p : n.props)
              if (p.required) inner = std::max<std::uint64_t>(inner, N[p.value].need);
            need = inner >= unbounded ? unbounded : 1 + inner;
            break;
          }
        }
        if (need < n.need) n.need = std::uint32_t(need), changed = true;
      }
    }
    if (N[g_.root].need == unbounded) throw schema_error("", "the schema matches no finite JSON value");
    if (N[g_.root].need > std::uint32_t(g_.max_value_depth))
      throw schema_error("", "every value of the schema nests deeper than " + std::to_string(g_.max_value_depth) + " levels");
  }

  const ojson& root_;
  const SchemaLimits& lim_;
  Grammar g_;
  std::int64_t any_ = -1;
  std::map<std::string, std::uint32_t> refs_;
};

}  // namespace detail

// Compiles a JSON Schema; throws schema_error naming the keyword's path when it cannot.
inline Grammar compile_schema(const ojson& schema, const SchemaLimits& limits = {}) {
  return detail::SchemaCompiler(schema, limits).run();
}

// Any JSON object (response_format json_object, and non-strict tool arguments).
inline Grammar json_object_grammar(const SchemaLimits& limits = {}) {
  ojson dummy;
  return detail::SchemaCompiler(dummy, limits).any_object();
}

}  // namespace gptoss::constrain
