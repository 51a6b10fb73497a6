// The Harmony parser on arbitrary token sequences. The first byte sets strict mode and the known
// role; then every two bytes are a token: little-endian values up to 0xEFFF are that id (the
// common ordinary tokens), higher ones map onto ids 199990..202037, around and past the special
// tokens, and 0xFFFF is 4294967295. parse_completion and the streaming parser fed one token at a
// time must agree, fail only with harmony_error, and produce valid UTF-8 everywhere.
#include <cstdint>
#include <optional>
#include <vector>

#include "fuzz.hpp"
#include "gptoss/harmony/json.hpp"
#include "gptoss/harmony/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gptoss;
  using namespace gptoss::harmony;
  if (size == 0) return 0;
  const bool strict = data[0] & 1;
  const std::optional<Role> roles[] = {std::nullopt, Role::assistant, Role::user, Role::tool};
  const std::optional<Role> role = roles[(data[0] >> 1) % 4];
  std::vector<token_id> ids;
  for (std::size_t i = 1; i + 1 < size; i += 2) {
    const unsigned v = data[i] | unsigned(data[i + 1]) << 8;
    ids.push_back(v == 0xFFFF ? 4294967295u : v <= 0xEFFF ? v : 199990 + (v & 0x7FF));
  }

  std::optional<std::vector<Message>> whole;
  try {
    whole = parse_completion(fuzz::tokenizer(), ids, role, strict);
  } catch (const harmony_error&) {
  }
  StreamParser stream(fuzz::tokenizer(), role, strict);
  bool failed = false;
  try {
    for (token_id t : ids) {
      stream.push(t);
      if (const auto& delta = stream.last_content_delta()) FUZZ_CHECK(text::utf8::is_valid(*delta));
      FUZZ_CHECK(text::utf8::is_valid(stream.current_content()));
    }
    stream.finish();
  } catch (const harmony_error&) {
    failed = true;
  }
  FUZZ_CHECK(failed == !whole);
  // dump() throws on invalid UTF-8, which would escape as a crash.
  const std::string streamed = to_json(stream.messages()).dump();
  if (whole) FUZZ_CHECK(streamed == to_json(*whole).dump());
  return 0;
}
