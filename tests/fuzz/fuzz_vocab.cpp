// The vocabulary readers and the BPE table on arbitrary bytes. The first byte picks the use of
// the rest (building a BPE table is the slow half, so only every other input does it):
//  * even: the rest as an o200k_base.tiktoken file and as a tokenizer.json: either is rejected
//    with gptoss::error (a few KB can never hold all 199998 ranks) and nothing else may escape;
//  * odd: the rest's lines, after the 256 single bytes, as the ranks of a small BPE table
//    (rejected with format_error when two tokens repeat), which then encodes the whole rest: the
//    ids' bytes must give back the input exactly.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "gptoss/text/vocab_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gptoss;
  if (size == 0) return 0;
  const std::string_view in = fuzz::as_text(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    try {
      text::parse_tiktoken(in, "fuzz.tiktoken");
      FUZZ_CHECK(!"a few KB cannot hold the whole vocabulary");
    } catch (const gptoss::error&) {
    }
    try {
      text::parse_tokenizer_json(in, "tokenizer.json");
      FUZZ_CHECK(!"a few KB cannot hold the whole vocabulary");
    } catch (const gptoss::error&) {
    }
    return 0;
  }

  std::string pool;
  std::vector<text::BpeRanks::Span> spans;
  auto add = [&](std::string_view token) {
    spans.push_back({std::uint32_t(pool.size()), std::uint32_t(token.size())});
    pool += token;
  };
  for (int b = 0; b < 256; ++b) add(std::string(1, char(b)));
  for (std::size_t pos = 0; pos < in.size();) {
    std::size_t eol = std::min(in.find('\n', pos), in.size());
    add(in.substr(pos, eol - pos));
    pos = eol + 1;
  }
  try {
    text::BpeRanks ranks(std::move(pool), std::move(spans));
    std::vector<token_id> ids;
    ranks.encode(in, ids);
    std::string back;
    for (token_id id : ids) back += ranks.bytes(id);
    FUZZ_CHECK(back == in);
  } catch (const format_error&) {
  }
  return 0;
}
