// The real o200k_harmony tokenizer on arbitrary input. The first byte picks what the rest is:
//  0: text for encode_ordinary;  1: text for encode_with_all_specials;
//  2: text for encode allowing <|start|> and <|message|>, other special text an error;
//  3: little-endian 32-bit words for decode and the streaming decoder: with the top bit clear a
//     word is an id modulo 201104 (the vocabulary and a few past it), else the id itself.
// Encoding must round-trip (the ids decode to the text, invalid UTF-8 replaced by U+FFFD);
// decoding fails with input_error for an unknown id, and streaming gives the same text.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "gptoss/text/stream_decoder.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace {

// With every special recognised, `<|reserved_200018|>` is an alias of `<|endofprompt|>` (both are
// id 200018, which decodes to the latter), so the round trip gives back the canonical spelling.
std::string canonical_specials(std::string text) {
  const std::string alias = "<|reserved_200018|>", canonical = "<|endofprompt|>";
  for (std::size_t at = text.find(alias); at != std::string::npos; at = text.find(alias, at + canonical.size()))
    text.replace(at, alias.size(), canonical);
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gptoss;
  using text::utf8::replace_invalid;
  if (size == 0) return 0;
  const auto& tok = fuzz::tokenizer();
  const std::string_view in = fuzz::as_text(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      FUZZ_CHECK(tok.decode(tok.encode_ordinary(in)) == replace_invalid(in));
      break;
    case 1:
      FUZZ_CHECK(tok.decode(tok.encode_with_all_specials(in)) == canonical_specials(replace_invalid(in)));
      break;
    case 2:
      try {
        auto ids = tok.encode(in, {"<|start|>", "<|message|>"}, text::Tokenizer::Disallowed::error);
        FUZZ_CHECK(tok.decode(ids) == replace_invalid(in));
      } catch (const input_error&) {
      }
      break;
    case 3: {
      std::vector<token_id> ids(in.size() / 4);
      if (!ids.empty()) std::memcpy(ids.data(), in.data(), ids.size() * 4);
      for (token_id& id : ids)
        if (id < 0x80000000u) id %= 201104;
      std::string whole;
      bool known = true;
      try {
        whole = tok.decode(ids);
      } catch (const input_error&) {
        known = false;
      }
      text::StreamDecoder stream(tok);
      std::string streamed;
      for (token_id id : ids) {
        try {
          std::string piece = stream.feed(id);
          FUZZ_CHECK(text::utf8::is_valid(piece));
          streamed += piece;
        } catch (const input_error&) {
          FUZZ_CHECK(!known);
        }
      }
      streamed += stream.finish();
      if (known) FUZZ_CHECK(streamed == replace_invalid(whole));
      break;
    }
  }
  return 0;
}
