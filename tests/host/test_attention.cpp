// The host attention operator under each attention variant (core/attention_variant.hpp) against
// the spec's attention computed here in float64 from the op's own rotated queries, keys and values:
// full attention without sinks over more than ops::keys_per_item keys (so that partial states are
// merged, in a token's own work item and as separate decoding items), and fixed windows with and
// without sinks (the models' 128 among them), decoded past the point where the cache's ring wraps.
#define BOOST_TEST_MODULE host_attention
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/attention_variant.hpp"
#include "gptoss/core/bf16.hpp"
#include "gptoss/host/kv_cache.hpp"
#include "gptoss/host/thread_pool.hpp"
#include "gptoss/ops/attention.hpp"
#include "gptoss/ops/rope.hpp"
#include "gptoss/ops/workspace.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;

namespace {

// The no-window variant ignores the config's window: Attention::window is 0 whatever it says.
static_assert(ops::Attention<AttentionVariant<full_window, false>>::variant::window == 0);

// softmax over the keys at [first, last] (and the sink, when `sink` is finite), in float64.
std::vector<double> reference_attention(const float* q, const std::vector<float>& keys, const std::vector<float>& values,
                                        int stride, int D, std::int64_t first, std::int64_t last, double sink) {
  std::vector<double> logits;
  double m = sink;
  for (std::int64_t j = first; j <= last; ++j) {
    double dot = 0.0;
    for (int d = 0; d < D; ++d) dot += double(q[d]) * keys[std::size_t(j * stride + d)];
    logits.push_back(dot / std::sqrt(double(D)));
    m = std::max(m, logits.back());
  }
  double denominator = std::isinf(sink) ? 0.0 : std::exp(sink - m);
  for (double l : logits) denominator += std::exp(l - m);
  std::vector<double> out(std::size_t(D), 0.0);
  for (std::int64_t j = first; j <= last; ++j) {
    const double w = std::exp(logits[std::size_t(j - first)] - m) / denominator;
    for (int d = 0; d < D; ++d) out[std::size_t(d)] += w * values[std::size_t(j * stride + d)];
  }
  return out;
}

// Runs the op of `Variant` on `layer` over calls of the given lengths, one after another on one
// sequence, and checks the heads' outputs at `check` positions against the float64 reference with
// the window `window` (0: all keys) and, when `with_sinks`, the weights' sink logits. The window
// and sinks are the test's own, not read from the variant.
template <class Variant>
void check_variant(ModelConfig c, int layer, std::vector<std::int64_t> calls, std::vector<std::int64_t> check, int window,
                   bool with_sinks) {
  const int H = c.hidden_size, D = c.head_dim, Hq = c.num_attention_heads;
  const int Q = c.q_width(), KV = c.kv_width(), G = c.heads_per_kv();
  std::mt19937 rng(17 + std::uint32_t(window));
  auto bf16s = [&](std::size_t n, float scale) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<bf16> v(n);
    for (auto& x : v) x = to_bf16(u(rng));
    return v;
  };
  const auto wq = bf16s(std::size_t(Q) * H, 0.15f), wk = bf16s(std::size_t(KV) * H, 0.15f),
             wv = bf16s(std::size_t(KV) * H, 0.5f);
  const auto bq = bf16s(std::size_t(Q), 0.1f), bk = bf16s(std::size_t(KV), 0.1f), bv = bf16s(std::size_t(KV), 0.1f),
             wo = bf16s(std::size_t(H) * Q, 0.1f), bo = bf16s(std::size_t(H), 0.1f);
  std::vector<bf16> sinks(static_cast<std::size_t>(Hq));
  for (int h = 0; h < Hq; ++h) sinks[std::size_t(h)] = to_bf16(0.5f + 0.75f * float(h));  // a real share
  AttentionWeights w{};
  w.q = {wq.data(), Q, H}, w.k = {wk.data(), KV, H}, w.v = {wv.data(), KV, H};
  w.q_bias = {bq.data(), Q}, w.k_bias = {bk.data(), KV}, w.v_bias = {bv.data(), KV};
  w.sinks = {sinks.data(), Hq};
  w.out = {wo.data(), H, Q}, w.out_bias = {bo.data(), H};

  const ops::Rope rope(c);
  host::ThreadPool pool(2);
  ops::Workspace ws(pool);
  std::vector<float> q_all, k_all, v_all, heads_all;  // per position, as the op computed them
  const Trace trace = [&](std::string_view name, int, const float* data, std::int64_t rows, std::int64_t cols) {
    std::vector<float>* to = name == "q_rope" ? &q_all : name == "k_rope" ? &k_all : name == "v" ? &v_all
                           : name == "attn_heads" ? &heads_all : nullptr;
    if (to) to->insert(to->end(), data, data + rows * cols);
  };
  ws.tracer = &trace;
  std::int64_t total = 0;
  for (std::int64_t n : calls) total += n;
  KvCache cache(c, total);
  std::uniform_real_distribution<float> u(-1, 1);
  for (std::int64_t T : calls) {
    std::vector<float> x(std::size_t(T * H)), out(std::size_t(T * H));
    for (float& e : x) e = u(rng);
    ws.tokens = T;
    ws.position.resize(std::size_t(T));
    ws.segment_of.assign(std::size_t(T), 0);
    for (std::int64_t t = 0; t < T; ++t) ws.position[std::size_t(t)] = cache.length() + t;
    const ops::Segment seg{&cache, 0, T};
    ops::Attention<Variant>::forward(c, layer, w, rope, x.data(), std::span(&seg, 1), ws, out.data());
    cache.advance(T);
  }
  BOOST_REQUIRE_EQUAL(heads_all.size(), std::size_t(total * Q));

  for (std::int64_t pos : check) {
    BOOST_REQUIRE_LT(pos, total);
    const std::int64_t first = window > 0 ? std::max<std::int64_t>(0, pos - window + 1) : 0;
    for (int h = 0; h < Hq; ++h) {
      const int g = h / G;
      const float* q = q_all.data() + pos * Q + h * D;
      const std::vector<float> keys(k_all.begin() + g * D, k_all.end()), values(v_all.begin() + g * D, v_all.end());
      const double sink = with_sinks ? double(to_float(sinks[std::size_t(h)])) : -double(INFINITY);
      const auto want = reference_attention(q, keys, values, KV, D, first, pos, sink);
      const float* got = heads_all.data() + pos * Q + h * D;
      double err = 0.0, scale = 0.0;
      for (int d = 0; d < D; ++d)
        err = std::max(err, std::fabs(got[d] - want[std::size_t(d)])), scale = std::max(scale, std::fabs(want[std::size_t(d)]));
      BOOST_TEST(err <= 1e-5 * scale, "position " << pos << " head " << h << ": error " << err << " of " << scale);
      // The reference tells the variants apart: with the sink switched the other way the output is
      // far outside that tolerance.
      const double other_sink = with_sinks ? -double(INFINITY) : 3.0;
      const auto other = reference_attention(q, keys, values, KV, D, first, pos, other_sink);
      double diff = 0.0;
      for (int d = 0; d < D; ++d) diff = std::max(diff, std::fabs(other[std::size_t(d)] - want[std::size_t(d)]));
      BOOST_TEST(diff > 1e-3 * scale, "position " << pos << " head " << h << ": sink makes no difference");
      // ...and so does one key more or one fewer at the window's edge.
      if (window > 0 && pos >= window)
        for (std::int64_t edge : {first - 1, first + 1}) {
          const auto moved = reference_attention(q, keys, values, KV, D, edge, pos, sink);
          double moved_diff = 0.0;
          for (int d = 0; d < D; ++d)
            moved_diff = std::max(moved_diff, std::fabs(moved[std::size_t(d)] - want[std::size_t(d)]));
          BOOST_TEST(moved_diff > 1e-3 * scale, "position " << pos << " head " << h << ": window edge at " << edge);
        }
    }
  }
}

}  // namespace

// Full attention without sinks over 1036 keys: the tokens past ops::keys_per_item have two parts,
// merged in their own work item (the call of 1030) and as separate items (the short calls after).
BOOST_AUTO_TEST_CASE(full_attention_without_sinks_matches_float64) {
  static_assert(ops::keys_per_item == 1024);
  ModelConfig c = tiny_test;
  static_assert(!tiny_test.is_sliding(1));
  check_variant<AttentionVariant<full_window, false>>(c, 1, {1030, 1, 2, 3},
                                                      {0, 1, 2, 9, 100, 1022, 1023, 1024, 1025, 1029, 1030, 1031, 1032,
                                                       1033, 1034, 1035},
                                                      0, false);
}

// A fixed window of 16 with sinks, and of 5 without, on a sliding layer whose ring has that many
// slots: one call that fills past the window, then decoding (the ring wraps).
BOOST_AUTO_TEST_CASE(fixed_windows_match_float64) {
  static_assert(tiny_test.is_sliding(0));
  ModelConfig c16 = tiny_test;
  c16.sliding_window = 16;
  check_variant<AttentionVariant<16, true>>(c16, 0, {20, 1, 1, 1, 2, 3}, {0, 5, 14, 15, 16, 17, 19, 20, 21, 22, 23, 27},
                                            16, true);
  ModelConfig c5 = tiny_test;
  c5.sliding_window = 5;
  check_variant<AttentionVariant<5, false>>(c5, 0, {3, 4, 1, 1, 2}, {0, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5, false);
}

// The real models' window of 128 keys, with sinks: 127 tokens in one call, then positions 127, 128
// and 129 decoded one by one, their keys from the cache's ring of 128 slots, which wraps at 128.
BOOST_AUTO_TEST_CASE(sliding_window_of_128_with_sinks_matches_float64) {
  ModelConfig c = tiny_test;
  c.sliding_window = 128;
  check_variant<AttentionVariant<128, true>>(c, 0, {127, 1, 1, 1}, {126, 127, 128, 129}, 128, true);
}

// The runtime-window variant takes the config's window.
BOOST_AUTO_TEST_CASE(runtime_window_takes_the_configs) {
  ModelConfig c = tiny_test;
  c.sliding_window = 6;
  BOOST_TEST(ops::Attention<SlidingAttentionWithSinks>::window(c) == 6);
  BOOST_TEST(ops::Attention<FullAttentionWithSinks>::window(c) == 0);
  using Fixed16 = ops::Attention<AttentionVariant<16, true>>;
  BOOST_TEST(Fixed16::window(c) == 16);
  check_variant<SlidingAttentionWithSinks>(c, 0, {9, 1, 1}, {0, 4, 5, 6, 7, 8, 9, 10}, 6, true);
}
