// Batch and chunk invariance, bit for bit: a sequence's logits are the same floats whether it runs
// alone or in one call with other sequences, whether its prompt is prefilled in one call, in
// chunks of any size (max_batch_tokens or several calls) or token by token, and with any number of
// threads. ctest runs these once per instruction set (GPTOSS_ISA, tests/model/CMakeLists.txt).
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "common/golden.hpp"
#include "gptoss/model/transformer.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;

namespace {

constexpr std::size_t vocab = 1000;

Transformer<tiny_test> open_tiny(int threads, std::int64_t chunk) {
  return Transformer<tiny_test>(io::Checkpoint::open(test::tiny_dir + "/original"),
                                {.threads = threads, .max_batch_tokens = chunk});
}

// Whether rows [0, rows) of got are bit for bit those of want from row `first` on; reports the
// first row that differs.
bool same_rows(const std::vector<float>& got, const std::vector<float>& want, std::size_t first, std::size_t rows,
               const std::string& what) {
  BOOST_REQUIRE_GE(got.size(), rows * vocab);
  BOOST_REQUIRE_GE(want.size(), (first + rows) * vocab);
  for (std::size_t r = 0; r < rows; ++r)
    if (std::memcmp(got.data() + r * vocab, want.data() + (first + r) * vocab, vocab * sizeof(float)) != 0) {
      BOOST_ERROR(what << ": row " << first + r << " differs");
      return false;
    }
  return true;
}

// The logits of every position of `tokens`, prefilled as calls of the given sizes (their sum the
// whole prompt); a size of 1 is a decode.
std::vector<float> in_calls(Transformer<tiny_test>& model, std::span<const token_id> tokens,
                            const std::vector<std::size_t>& calls) {
  auto seq = model.new_sequence(std::int64_t(tokens.size()));
  std::vector<float> all;
  std::size_t at = 0;
  for (std::size_t n : calls) {
    const auto rows = n == 1 ? model.decode(seq, tokens[at]) : model.prefill(seq, tokens.subspan(at, n), Logits::all);
    all.insert(all.end(), rows.begin(), rows.end());
    at += n;
  }
  BOOST_REQUIRE_EQUAL(at, tokens.size());
  return all;
}

}  // namespace

// seq2 (41 tokens, 5 windows of the sliding layers' 8): one call against chunks of 1, 3 and 64
// tokens, calls of uneven sizes, and one token at a time, with 1 and 3 threads.
BOOST_AUTO_TEST_CASE(prefill_in_one_call_in_chunks_and_by_decoding_is_bitwise_the_same) {
  const auto tokens = test::Golden().tokens("seq2.tokens");
  auto one = open_tiny(1, 4096);
  const auto expect = in_calls(one, tokens, {tokens.size()});
  for (int threads : {1, 3}) {
    for (std::int64_t chunk : {1, 3, 64}) {
      auto model = open_tiny(threads, chunk);
      same_rows(in_calls(model, tokens, {tokens.size()}), expect, 0, tokens.size(),
                "threads " + std::to_string(threads) + ", max_batch_tokens " + std::to_string(chunk));
    }
    auto model = open_tiny(threads, 4096);
    same_rows(in_calls(model, tokens, {5, 11, 1, 2, 22}), expect, 0, tokens.size(),
              "threads " + std::to_string(threads) + ", calls of 5, 11, 1, 2, 22");
    same_rows(in_calls(model, tokens, std::vector<std::size_t>(tokens.size(), 1)), expect, 0, tokens.size(),
              "threads " + std::to_string(threads) + ", token by token");
  }
}

// seq1 (7 tokens) alone, and in one call with seq2 (41) and 20 other tokens, before and after them,
// in one chunk and in chunks of 5 that cut across the sequences; then a decode step of all three
// in one call against seq1's alone.
BOOST_AUTO_TEST_CASE(a_sequence_alone_and_batched_with_others_is_bitwise_the_same) {
  test::Golden golden;
  const auto a = golden.tokens("seq1.tokens"), b = golden.tokens("seq2.tokens");
  std::vector<token_id> c(20);
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = token_id((i * 37 + 11) % vocab);
  auto alone_model = open_tiny(1, 4096);
  auto alone = alone_model.new_sequence(64);
  const auto expect = alone_model.prefill(alone, a, Logits::all);
  const token_id next = 17;
  const auto expect_next = alone_model.decode(alone, next);

  for (int threads : {1, 2})
    for (std::int64_t chunk : {4096, 5}) {
      const std::string what = "threads " + std::to_string(threads) + ", max_batch_tokens " + std::to_string(chunk);
      auto model = open_tiny(threads, chunk);
      {  // seq1 first
        auto sa = model.new_sequence(64), sb = model.new_sequence(64), sc = model.new_sequence(64);
        const auto got = model.forward(std::vector<Step>{{sa, a}, {sb, b}, {sc, c}}, Logits::all);
        same_rows(got, expect, 0, a.size(), what + ", first of three");
        const token_id nb = 4, nc = 999;
        const auto step = model.forward(
            std::vector<Step>{{sb, std::span(&nb, 1)}, {sa, std::span(&next, 1)}, {sc, std::span(&nc, 1)}},
            Logits::last);
        same_rows(std::vector<float>(step.begin() + vocab, step.begin() + 2 * vocab), expect_next, 0, 1,
                  what + ", decoded among three");
      }
      {  // seq1 between the others
        auto sa = model.new_sequence(64), sb = model.new_sequence(64), sc = model.new_sequence(64);
        const auto got = model.forward(std::vector<Step>{{sb, b}, {sa, a}, {sc, c}}, Logits::all);
        same_rows(std::vector<float>(got.begin() + b.size() * vocab, got.end()), expect, 0, a.size(),
                  what + ", second of three");
      }
    }
}

// More keys than ops::keys_per_item (1024), so that a full layer's keys are split into parts, and
// the sliding layers' ring of 8 slots wrapping at every call: 1100 tokens in one call against
// chunks of 64 with 3 threads, and against a prompt of 1020 and then decodes and small calls
// batched with another sequence (at most ops::split_tokens tokens, where parts are work items of
// their own, and more, where a token's work item runs its parts).
BOOST_AUTO_TEST_CASE(long_context_is_bitwise_the_same_however_it_is_cut) {
  static_assert(ops::keys_per_item == 1024 && ops::split_tokens == 4);
  const auto long_tokens = test::Golden().tokens("long.tokens");
  const std::vector<token_id> tokens(long_tokens.begin(), long_tokens.begin() + 1100);
  auto one = open_tiny(1, 2048);
  const auto expect = in_calls(one, tokens, {tokens.size()});

  auto chunked = open_tiny(3, 64);
  same_rows(in_calls(chunked, tokens, {tokens.size()}), expect, 0, tokens.size(), "chunks of 64, 3 threads");

  auto model = open_tiny(2, 4096);
  auto s = model.new_sequence(1100), other = model.new_sequence(64);
  const std::span<const token_id> all(tokens);
  same_rows(model.prefill(s, all.first(1020), Logits::all), expect, 0, 1020, "prompt of 1020");
  std::size_t at = 1020;
  for (std::size_t n : {1, 1, 1, 1, 1, 3, 2, 1, 4, 5, 2, 1}) {  // 1021 .. 1042, across 1025
    const token_id o = token_id(at % vocab);
    // With one token of `other` before it: n + 1 tokens in the call.
    const auto got = model.forward(std::vector<Step>{{other, std::span(&o, 1)}, {s, all.subspan(at, n)}}, Logits::all);
    same_rows(std::vector<float>(got.begin() + vocab, got.end()), expect, at, n,
              "a call of " + std::to_string(n) + " tokens from position " + std::to_string(at));
    at += n;
  }
  for (; at < 1100; ++at) same_rows(model.decode(s, tokens[at]), expect, at, 1, "decoding");
}
