// Parsing JSON from untrusted text. Code that walks parsed JSON (rendering, dump() in error
// messages) recurses, so absurdly deep nesting is refused while parsing, before it can exhaust
// the stack; real files are a few levels deep.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gptoss/core/error.hpp"

namespace gptoss {

// Throws format_error, naming `where`, for invalid JSON or nesting deeper than max_depth.
template <class Json = nlohmann::json>
Json parse_json(std::string_view text, const std::string& where, int max_depth) {
  bool too_deep = false;
  Json j;
  try {
    j = Json::parse(text, [&](int depth, typename Json::parse_event_t, Json&) { return !(too_deep |= depth > max_depth); });
  } catch (const typename Json::exception& e) {
    throw format_error(where + ": not valid JSON: " + e.what());
  }
  if (too_deep) throw format_error(where + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
  return j;
}

}  // namespace gptoss
