// `gptoss harmony render|parse` on arbitrary input: the bytes as a JSON request, a render request
// unless it has "input", then a parse request. Anything but gptoss::error escaping is a crash, and
// the answer must serialise as the command prints it. Properties of what succeeds:
// - render: the request's messages survive their JSON form (read, written, read again: the same
//   JSON and the same tokens when rendered);
// - parse: the parsed messages survive their JSON form, and rendering them back (every message
//   kept) and parsing that again gives the same messages, where every header field (name,
//   recipient, channel, content type) is a plain word. (Other header text need not come back as it
//   was: the parser splits headers on whitespace and looks for "<|constrain|>" in their text.)
#include <cstdint>
#include <vector>

#include "fuzz.hpp"
#include "gptoss/core/json.hpp"
#include "gptoss/harmony/requests.hpp"

namespace {
bool plain_word(const std::optional<std::string>& field) {
  if (!field) return true;
  if (field->empty()) return false;
  for (char ch : *field)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
          ch == '-'))
      return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gptoss;
  using namespace gptoss::harmony;
  // As the command does (cmd_harmony.cpp): input nested deeper than 256 levels is refused.
  ordered_json request;
  try {
    request = parse_json<ordered_json>(std::string_view(reinterpret_cast<const char*>(data), size), "input", 256);
  } catch (const gptoss::format_error&) {
    return 0;
  }
  const text::Tokenizer& tok = fuzz::tokenizer();
  try {
    const bool parse = request.is_object() && request.contains("input");
    ordered_json out = parse ? parse_request(tok, request) : render_request(tok, request);
    out.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
    if (parse) {
      const std::vector<Message> messages = messages_from_json(out["messages"]);
      FUZZ_CHECK(to_json(messages) == out["messages"]);
      bool plain = true;
      // The recipient "all" (everyone) is rendered as no recipient, as the reference renders it, so
      // it does not come back from a second parse.
      for (const auto& m : messages)
        plain = plain && plain_word(m.name) && plain_word(m.recipient) && m.recipient != "all" && plain_word(m.channel) &&
                plain_word(m.content_type);
      if (plain) {
        const auto again = parse_completion(tok, render_conversation(tok, messages, {.auto_drop_analysis = false}));
        FUZZ_CHECK(to_json(again) == out["messages"]);
      }
    } else {
      const std::vector<Message> messages = messages_from_json(request.value("messages", ordered_json::array()));
      const ordered_json written = to_json(messages);
      const std::vector<Message> read = messages_from_json(written);
      FUZZ_CHECK(to_json(read) == written);
      FUZZ_CHECK(render_conversation(tok, read, {.auto_drop_analysis = false}) ==
                 render_conversation(tok, messages, {.auto_drop_analysis = false}));
    }
  } catch (const gptoss::error&) {
  }
  return 0;
}
