// Prefill in chunks, decode token by token, and several sequences in one call all compute the
// same function as one full pass: checked against the full pass on the same model.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <cmath>

#include "common/golden.hpp"
#include "gptoss/model/any_model.hpp"
#include "gptoss/model/transformer.hpp"

using namespace gptoss;

// Counts the heap allocations of this program while `counting` is set.
namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace
// GCC pairs the new-expressions it inlines with these and warns that free() does not match `new`;
// here it does, since this operator new allocates with malloc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }


BOOST_AUTO_TEST_CASE(chunked_prefill_and_decode_match_one_pass) {
  test::Golden golden;
  auto tokens = golden.tokens("seq2.tokens");  // 41 tokens: 5 sliding windows of 8
  Transformer<tiny_test> full(io::Checkpoint::open(test::tiny_dir + "/original"));
  auto s = full.new_sequence(64);
  auto expect = full.prefill(s, tokens, Logits::all);

  for (std::int64_t chunk : {1, 3, 8, 13}) {
    Transformer<tiny_test> model(io::Checkpoint::open(test::tiny_dir + "/original"), {.max_batch_tokens = chunk});
    auto seq = model.new_sequence(64);
    auto got = model.prefill(seq, tokens, Logits::all);
    BOOST_TEST(test::max_row_relative_error(got.data(), expect.data(), 41, 1000) < 1e-5, "chunk " << chunk);
  }

  // Prompt of 20, then 21 single-token decodes.
  auto seq = full.new_sequence(41);
  auto first = full.prefill(seq, std::span(tokens).first(20), Logits::all);
  BOOST_TEST(test::max_row_relative_error(first.data(), expect.data(), 20, 1000) < 1e-5);
  for (std::size_t i = 20; i < tokens.size(); ++i) {
    auto got = full.decode(seq, tokens[i]);
    BOOST_TEST(test::max_row_relative_error(got.data(), expect.data() + i * 1000, 1, 1000) < 1e-5, "position " << i);
  }
  BOOST_TEST(seq.length() == 41);
}

BOOST_AUTO_TEST_CASE(several_sequences_in_one_call) {
  test::Golden golden;
  auto a = golden.tokens("seq1.tokens"), b = golden.tokens("seq2.tokens");
  Transformer<tiny_test> model(io::Checkpoint::open(test::tiny_dir + "/hf"));
  auto sa = model.new_sequence(64), sb = model.new_sequence(64);
  auto alone_a = model.prefill(sa, a, Logits::all);
  auto alone_b = model.prefill(sb, b, Logits::all);

  auto ta = model.new_sequence(64), tb = model.new_sequence(64);
  std::vector<Step> steps{{ta, a}, {tb, b}};
  auto together = model.forward(steps, Logits::all);
  BOOST_TEST(test::max_row_relative_error(together.data(), alone_a.data(), std::int64_t(a.size()), 1000) < 1e-5);
  BOOST_TEST(test::max_row_relative_error(together.data() + a.size() * 1000, alone_b.data(), std::int64_t(b.size()), 1000) < 1e-5);

  // Then one decode step for both at once: last-token logits, one row per sequence.
  token_id na = 17, nb = 4;
  std::vector<Step> next{{ta, std::span(&na, 1)}, {tb, std::span(&nb, 1)}};
  auto both = model.forward(next, Logits::last);
  auto only_a = model.decode(sa, na), only_b = model.decode(sb, nb);
  BOOST_TEST(test::max_row_relative_error(both.data(), only_a.data(), 1, 1000) < 1e-5);
  BOOST_TEST(test::max_row_relative_error(both.data() + 1000, only_b.data(), 1, 1000) < 1e-5);
}

// decode_top_k (the unembedding fused with the selection) against the whole logits row of the
// same step, for 1 and 3 threads, directly and through AnyModel.
BOOST_AUTO_TEST_CASE(decode_top_k_matches_the_logits_row) {
  test::Golden golden;
  auto tokens = golden.tokens("seq2.tokens");
  for (int threads : {1, 3}) {
    Transformer<tiny_test> model(io::Checkpoint::open(test::tiny_dir + "/original"), {.threads = threads});
    auto any = open_model<tiny_test>(io::Checkpoint::open(test::tiny_dir + "/original"), {.threads = threads});
    auto a = model.new_sequence(64), b = model.new_sequence(64);
    auto c = any->new_sequence(64);
    model.prefill(a, std::span(tokens).first(30));
    model.prefill(b, std::span(tokens).first(30));
    any->prefill(c, std::span(tokens).first(30));
    for (std::size_t k : {1, 7, 1000}) {
      const token_id next = tokens[30 + k % 5];
      auto row = model.decode(a, next);
      std::vector<Candidate> want;
      for (std::size_t i = 0; i < row.size(); ++i) want.push_back({token_id(i), row[i]});
      std::sort(want.begin(), want.end(), better);
      std::vector<Candidate> got(k, Candidate{0, NAN}), via_any(k, Candidate{0, NAN});
      model.decode_top_k(b, next, got);
      any->decode_top_k(c, next, via_any);
      for (std::size_t i = 0; i < k; ++i) {
        BOOST_TEST(got[i].token == want[i].token, "threads " << threads << " k " << k << " rank " << i);
        BOOST_TEST(got[i].logit == want[i].logit);
        BOOST_TEST(via_any[i].token == want[i].token);
      }
    }
    BOOST_TEST(b.length() == a.length());
    std::vector<Candidate> none, too_many(1001);
    BOOST_CHECK_THROW(model.decode_top_k(b, 1, none), input_error);
    BOOST_CHECK_THROW(model.decode_top_k(b, 1, too_many), input_error);
    BOOST_CHECK_THROW(model.decode_top_k(b, 1000, std::span(too_many).first(3)), input_error);
    BOOST_TEST(b.length() == a.length());  // a failed call leaves the sequence as it was
  }
}

// After a first step, decoding allocates nothing, through either decode call, while the context
// grows past the points where attention splits the keys into more runs (multiples of 1024).
BOOST_AUTO_TEST_CASE(decoding_allocates_nothing) {
  Transformer<tiny_test> model(io::Checkpoint::open(test::tiny_dir + "/original"), {.threads = 2});
  auto seq = model.new_sequence(2200);
  std::vector<token_id> prompt(1000);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = token_id(i * 7 % 1000);
  model.prefill(seq, prompt);
  std::vector<float> logits(1000);
  std::vector<Candidate> best(3);
  model.decode(seq, 1, logits);
  model.decode_top_k(seq, 2, best);
  counting = true;
  while (seq.length() < 2100) {
    model.decode(seq, token_id(seq.length() % 1000), logits);
    model.decode_top_k(seq, best[0].token, best);
  }
  counting = false;
  BOOST_TEST(allocations.load() == 0);
}

BOOST_AUTO_TEST_CASE(sliding_layers_keep_only_the_window) {
  // A sliding layer's cache holds `sliding_window` slots whatever the capacity: 4 layers, 2 of
  // them full (capacity slots) and 2 sliding (8 slots), each slot 2 x 64 floats.
  KvCache cache(tiny_test, 1000);
  BOOST_TEST(cache.bytes() == std::int64_t((2 * 1000 + 2 * 8) * 2 * 64 * sizeof(float)));
}

BOOST_AUTO_TEST_CASE(errors_leave_the_sequence_unchanged) {
  Transformer<tiny_test> model(io::Checkpoint::open(test::tiny_dir + "/original"));
  auto seq = model.new_sequence(4);
  std::vector<token_id> bad{1, 2, 1000};
  BOOST_CHECK_THROW(model.prefill(seq, bad), input_error);
  BOOST_TEST(seq.length() == 0);
  std::vector<token_id> too_long{1, 2, 3, 4, 5};
  BOOST_CHECK_THROW(model.prefill(seq, too_long), input_error);
  BOOST_TEST(seq.length() == 0);
  std::vector<token_id> empty;
  BOOST_CHECK_THROW(model.prefill(seq, empty), input_error);
  std::vector<token_id> ok{1, 2};
  std::vector<Step> twice{{seq, ok}, {seq, ok}};
  BOOST_CHECK_THROW(model.forward(twice), input_error);
  BOOST_CHECK_THROW(model.new_sequence(0), input_error);
  BOOST_CHECK_THROW(model.new_sequence(tiny_test.max_context() + 1), input_error);
  try {
    model.prefill(seq, bad);
  } catch (const input_error& e) {
    BOOST_TEST(std::string(e.what()).find("token id 1000") != std::string::npos, e.what());
  }
}
