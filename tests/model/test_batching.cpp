// Prefill in chunks, decode token by token, and several sequences in one call all compute the
// same function as one full pass: checked against the full pass on the same model.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cmath>
#include <cstdint>
#include <new>
#include <vector>

#include "common/golden.hpp"
#include "gptoss/core/huge_page_allocator.hpp"
#include "gptoss/model/any_model.hpp"
#include "gptoss/model/transformer.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;

// Counts the heap allocations of this program while `counting` is set: every replaceable form of
// operator new (plain, array, aligned, nothrow) counts, since the library allocates in several of
// them (HugePageAllocator, which holds the KV cache and scratch, uses the aligned form).
namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* counted_malloc(std::size_t n) {
  if (counting) ++allocations;
  return std::malloc(n ? n : 1);
}
void* counted_aligned(std::size_t n, std::align_val_t al) {
  if (counting) ++allocations;
  const std::size_t a = std::max(std::size_t(al), sizeof(void*));
  return std::aligned_alloc(a, (n + a - 1) / a * a + (n ? 0 : a));
}
void* or_throw(void* p) {
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace
// GCC pairs the new-expressions it inlines with these and warns that free() does not match `new`;
// here it does, since every operator new here allocates with malloc or aligned_alloc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) { return or_throw(counted_malloc(n)); }
void* operator new[](std::size_t n) { return or_throw(counted_malloc(n)); }
void* operator new(std::size_t n, std::align_val_t a) { return or_throw(counted_aligned(n, a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return or_throw(counted_aligned(n, a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_malloc(n); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return counted_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return counted_aligned(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

// The counter sees each form of allocation, the huge-page allocator's aligned ones included
// (both of its alignments: a cache line, and 2 MB for large arrays).
BOOST_AUTO_TEST_CASE(the_allocation_counter_sees_every_form) {
  auto counted = [](auto allocate) {
    allocations = 0;
    counting = true;
    allocate();
    counting = false;
    return allocations.load();
  };
  BOOST_TEST(counted([] { delete new int(1); }) == 1);
  BOOST_TEST(counted([] { delete[] new int[3]; }) == 1);
  BOOST_TEST(counted([] { delete new (std::nothrow) int(1); }) == 1);
  BOOST_TEST(counted([] { delete[] new (std::nothrow) int[3]; }) == 1);
  struct alignas(256) Wide { char c[256]; };
  BOOST_TEST(counted([] { delete new Wide; }) == 1);
  BOOST_TEST(counted([] { delete[] new Wide[2]; }) == 1);
  BOOST_TEST(counted([] { std::vector<float, HugePageAllocator<float>> small(100); }) == 1);
  BOOST_TEST(counted([] {
    std::vector<float, HugePageAllocator<float>> large(HugePageAllocator<float>::huge_page / sizeof(float));
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(large.data()) % HugePageAllocator<float>::huge_page == 0u);
  }) == 1);
  std::vector<float, HugePageAllocator<float>> grows(10);
  BOOST_TEST(counted([&] { grows.resize(10000); }) == 1);
  allocations = 0;
}

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
// grows past the points where attention splits the keys into more runs (multiples of 1024); nor
// does a batched step (the engine's: four sequences' next tokens in one call, logits into the
// caller's buffer); with a compiled config and with dynamic_config alike.
template <ModelConfig Config>
void check_decoding_allocates_nothing() {
  Transformer<Config> model(io::Checkpoint::open(test::tiny_dir + "/original"), {.threads = 2});
  auto seq = model.new_sequence(2200);
  std::vector<token_id> prompt(1000);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = token_id(i * 7 % 1000);
  model.prefill(seq, prompt);
  std::vector<float> logits(1000);
  std::vector<Candidate> best(3);
  model.decode(seq, 1, logits);
  model.decode_top_k(seq, 2, best);
  allocations = 0;
  counting = true;
  while (seq.length() < 2100) {
    model.decode(seq, token_id(seq.length() % 1000), logits);
    model.decode_top_k(seq, best[0].token, best);
  }
  counting = false;
  BOOST_TEST(allocations.load() == 0);

  std::vector<KvCache> seqs;
  for (std::size_t i = 0; i < 4; ++i) {
    seqs.push_back(model.new_sequence(200));
    model.prefill(seqs.back(), std::span<const token_id>(prompt).first(5 + i));
  }
  std::vector<token_id> next(4, 7);
  std::vector<StepOf<KvCache>> steps;
  for (std::size_t i = 0; i < 4; ++i) steps.push_back({seqs[i], std::span<const token_id>(&next[i], 1)});
  std::vector<float> batch_logits(4 * 1000);
  model.forward(steps, Logits::last, batch_logits);
  allocations = 0;
  counting = true;
  for (int step = 0; step < 40; ++step) model.forward(steps, Logits::last, batch_logits);
  counting = false;
  BOOST_TEST(allocations.load() == 0);
}
BOOST_AUTO_TEST_CASE(decoding_allocates_nothing) { check_decoding_allocates_nothing<tiny_test>(); }
BOOST_AUTO_TEST_CASE(decoding_allocates_nothing_dynamic_config) { check_decoding_allocates_nothing<dynamic_config>(); }

// A sliding layer sees exactly the last `sliding_window` (8) keys, through the batch and through
// its ring of 8 cache slots. Two prompts that differ only in their first 13 tokens give the same
// layer-0 (sliding) attention output wherever the window holds none of them (position 20 on), and
// different ones where it still holds token 12 (position 19). Positions 20 and 21 are decoded, so
// their keys come from the ring, whose slots by then have been overwritten once or more.
BOOST_AUTO_TEST_CASE(sliding_layers_keep_only_the_window) {
  static_assert(tiny_test.sliding_window == 8 && tiny_test.is_sliding(0));
  // The cache holds 8 slots for a sliding layer whatever the capacity: 4 layers, 2 of them full
  // (capacity slots) and 2 sliding (8 slots), each slot 2 x 64 floats.
  KvCache sized(tiny_test, 1000);
  BOOST_TEST(sized.bytes() == std::int64_t((2 * 1000 + 2 * 8) * 2 * 64 * sizeof(float)));

  test::Golden golden;
  const auto base = golden.tokens("seq2.tokens");
  auto layer0_attention = [&](std::vector<token_id> tokens) {
    Transformer<tiny_test> model(io::Checkpoint::open(test::tiny_dir + "/original"));
    std::vector<std::vector<float>> rows;  // one per position, in order
    model.set_trace([&](std::string_view name, int layer, const float* data, std::int64_t n, std::int64_t cols) {
      if (name == "attn_heads" && layer == 0)
        for (std::int64_t r = 0; r < n; ++r) rows.emplace_back(data + r * cols, data + (r + 1) * cols);
    });
    auto seq = model.new_sequence(64);
    model.prefill(seq, std::span(tokens).first(20));
    model.decode(seq, tokens[20]);
    model.decode(seq, tokens[21]);
    return rows;
  };
  std::vector<token_id> other(base.begin(), base.end());
  for (std::size_t i = 0; i < 13; ++i) other[i] = token_id((other[i] + 500 + 37 * i) % 1000);
  const auto a = layer0_attention({base.begin(), base.end()}), b = layer0_attention(other);
  BOOST_REQUIRE_EQUAL(a.size(), 22u);
  BOOST_REQUIRE_EQUAL(b.size(), 22u);
  for (std::size_t p = 0; p < 20; ++p) BOOST_TEST(a[p] != b[p], "position " << p << " sees a changed token");
  for (std::size_t p = 20; p < 22; ++p) BOOST_TEST(a[p] == b[p], "position " << p << " sees only unchanged tokens");
}

// Split-key decoding at a few tokens, in the short run (the long golden cases are left out of
// emulated runs): after 1026 tokens, a call of 3 tokens and a decode of 1 each split a full layer's
// keys (more than ops::keys_per_item of them) into two runs merged by merge_partial_states. Their
// logits against one unsplit pass over the whole sequence (a call of many tokens never splits).
BOOST_AUTO_TEST_CASE(split_key_decoding_matches_one_pass) {
  static_assert(ops::keys_per_item == 1024 && ops::split_tokens >= 3);
  const auto long_tokens = test::Golden().tokens("long.tokens");
  const std::vector<token_id> tokens(long_tokens.begin(), long_tokens.begin() + 1030);
  const std::size_t prompt = 1026;
  Transformer<tiny_test> whole(io::Checkpoint::open(test::tiny_dir + "/original"), {.max_batch_tokens = 2048});
  auto w = whole.new_sequence(1030);
  const auto expect = whole.forward(std::vector<Step>{{w, std::span(tokens).subspan(0)}}, Logits::all);
  for (int threads : {1, 3}) {
    // Chunks of 1000 tokens, so that the prompt too is prefilled without splitting.
    Transformer<tiny_test> model(io::Checkpoint::open(test::tiny_dir + "/original"),
                                 {.threads = threads, .max_batch_tokens = 1000});
    auto s = model.new_sequence(1030);
    model.prefill(s, std::span(tokens).first(prompt));
    auto three = model.forward(std::vector<Step>{{s, std::span(tokens).subspan(prompt, 3)}}, Logits::all);
    for (std::size_t i = 0; i < 3; ++i) {
      const double err = test::max_row_relative_error(three.data() + i * 1000, expect.data() + (prompt + i) * 1000, 1, 1000);
      BOOST_TEST(err < 1e-5, "threads " << threads << " position " << prompt + i << ": relative error " << err);
    }
    auto last = model.decode(s, tokens[prompt + 3]);
    const double err = test::max_row_relative_error(last.data(), expect.data() + (prompt + 3) * 1000, 1, 1000);
    BOOST_TEST(err < 1e-5, "threads " << threads << " position " << prompt + 3 << ": relative error " << err);
  }
}

// Chunking at its edges, against the reference's logits (seq2, 41 tokens) and seq1's (7 tokens):
// a prompt exactly max_batch_tokens long, a step that ends exactly at the chunk's end with another
// step after it, and Logits::last over several chunks.
BOOST_AUTO_TEST_CASE(chunk_edges_match_reference) {
  test::Golden golden;
  const auto t1 = golden.tokens("seq1.tokens"), t2 = golden.tokens("seq2.tokens");
  const auto e1 = golden.floats("seq1.logits_fp32"), e2 = golden.floats("seq2.logits_fp32");
  const double tol = test::logits_tolerance;
  auto open = [](std::int64_t chunk) {
    return Transformer<tiny_test>(io::Checkpoint::open(test::tiny_dir + "/original"), {.max_batch_tokens = chunk});
  };
  {  // A prompt of exactly max_batch_tokens tokens, all rows and the last row.
    auto model = open(7);
    auto s = model.new_sequence(64), u = model.new_sequence(64);
    auto all = model.prefill(s, t1, Logits::all);
    BOOST_TEST(test::max_row_relative_error(all.data(), e1.data(), 7, 1000) < tol);
    auto last = model.prefill(u, t1, Logits::last);
    BOOST_REQUIRE_EQUAL(last.size(), 1000u);
    BOOST_TEST(test::max_row_relative_error(last.data(), e1.data() + 6 * 1000, 1, 1000) < tol);
    // And the next token after it, in a call of its own.
    auto next = model.prefill(s, std::span(t2).first(1), Logits::all);
    BOOST_TEST(s.length() == 8);
    auto check = open(64);
    auto c = check.new_sequence(64);
    std::vector<token_id> eight(t1.begin(), t1.end());
    eight.push_back(t2[0]);
    auto want = check.prefill(c, eight, Logits::last);
    BOOST_TEST(test::max_row_relative_error(next.data(), want.data(), 1, 1000) < 1e-5);
  }
  for (Logits which : {Logits::all, Logits::last}) {
    // Two steps: seq1 (7 tokens) fills the first chunk exactly, seq2 follows over 6 more chunks.
    auto model = open(7);
    auto a = model.new_sequence(64), b = model.new_sequence(64);
    auto got = model.forward(std::vector<Step>{{a, t1}, {b, t2}}, which);
    const bool all = which == Logits::all;
    BOOST_REQUIRE_EQUAL(got.size(), all ? 48000u : 2000u);
    if (all) {
      BOOST_TEST(test::max_row_relative_error(got.data(), e1.data(), 7, 1000) < tol);
      BOOST_TEST(test::max_row_relative_error(got.data() + 7000, e2.data(), 41, 1000) < tol);
    } else {
      BOOST_TEST(test::max_row_relative_error(got.data(), e1.data() + 6000, 1, 1000) < tol);
      BOOST_TEST(test::max_row_relative_error(got.data() + 1000, e2.data() + 40000, 1, 1000) < tol);
    }
    BOOST_TEST(a.length() == 7);
    BOOST_TEST(b.length() == 41);
    // Logits::last of seq2 alone, in chunks of 8 (41 = 5 x 8 + 1) and of 41 (one chunk exactly).
    for (std::int64_t chunk : {8, 41}) {
      auto m = open(chunk);
      auto s = m.new_sequence(64);
      auto last = m.prefill(s, t2, Logits::last);
      BOOST_TEST(test::max_row_relative_error(last.data(), e2.data() + 40000, 1, 1000) < tol, "chunk " << chunk);
    }
  }
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
