// `gptoss harmony render|parse` on arbitrary input: the bytes as a JSON request, a render request
// unless it has "input", then a parse request. Anything but gptoss::error escaping is a crash, and
// the answer must serialise as the command prints it.
#include <cstdint>

#include "fuzz.hpp"
#include "gptoss/core/json.hpp"
#include "gptoss/harmony/requests.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gptoss;
  using harmony::ordered_json;
  // As the command does (cmd_harmony.cpp): input nested deeper than 256 levels is refused.
  ordered_json request;
  try {
    request = parse_json<ordered_json>(std::string_view(reinterpret_cast<const char*>(data), size), "input", 256);
  } catch (const gptoss::format_error&) {
    return 0;
  }
  try {
    const bool parse = request.is_object() && request.contains("input");
    ordered_json out = parse ? harmony::parse_request(fuzz::tokenizer(), request) : harmony::render_request(fuzz::tokenizer(), request);
    out.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  } catch (const gptoss::error&) {
  }
  return 0;
}
