// The shared per-element math against hand-computed values, closed forms and properties.
#define BOOST_TEST_MODULE core
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string_view>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/bf16.hpp"
#include "gptoss/core/math.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/ops/attention.hpp"
#include "gptoss/ops/rms_norm.hpp"
#include "gptoss/ops/rope.hpp"
#include "gptoss/ops/workspace.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_CASE(mxfp4_decodes_all_256_bytes) {
  // E2M1 by hand: sign bit 3, exponent bits 2-1 (bias 1), mantissa bit 0; code 1 is subnormal 0.5.
  auto e2m1 = [](int code) {
    const int exp = (code >> 1) & 3, man = code & 1;
    const double mag = exp == 0 ? 0.5 * man : std::ldexp(1.0 + 0.5 * man, exp - 1);
    return (code & 8) ? -mag : mag;
  };
  for (int scale_byte : {0, 1, 100, 119, 127, 128, 200, 254}) {
    const float scale = mxfp4::e8m0_value(std::uint8_t(scale_byte));
    BOOST_TEST(double(scale) == std::ldexp(1.0, scale_byte - 127));
    for (int b = 0; b < 256; ++b) {
      const auto p = mxfp4::decode_byte(std::uint8_t(b), scale);
      // Compared in float: at scale 2^127 the largest codes overflow to infinity, as they must.
      BOOST_TEST(p.even == float(e2m1(b & 15) * double(scale)), "byte " << b << " scale " << scale_byte);
      BOOST_TEST(p.odd == float(e2m1(b >> 4) * double(scale)), "byte " << b << " scale " << scale_byte);
    }
  }
  BOOST_TEST(std::signbit(mxfp4::e2m1_value(8)));  // code 8 is -0
}

BOOST_AUTO_TEST_CASE(mxfp4_row_layout_and_quantize_round_trip) {
  // 64 values = 2 blocks: the low nibble of byte j is element 2j; each block has its own scale.
  std::uint8_t blocks[32], scales[2] = {127, 129};
  for (int j = 0; j < 32; ++j) blocks[j] = std::uint8_t((j % 16) | ((15 - j % 16) << 4));
  float out[64];
  mxfp4::decode_row(blocks, scales, 64, out);
  BOOST_TEST(out[0] == 0.0f);                    // code 0
  BOOST_TEST(out[1] == -6.0f);                   // code 15
  BOOST_TEST(out[2 * 7] == mxfp4::e2m1_value(7));
  BOOST_TEST(out[32 + 2 * 5] == 4.0f * mxfp4::e2m1_value(5));  // second block, scale 2^2

  // Values already on the E2M1 grid times a power of two survive quantization exactly.
  std::mt19937 rng(7);
  float in[96], back[96];
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 32; ++i) in[b * 32 + i] = mxfp4::e2m1_value(std::uint8_t(rng() % 16)) * std::ldexp(1.0f, b - 4);
  in[0] = 6.0f * std::ldexp(1.0f, -4);  // make each block's max the largest code
  in[32] = -6.0f * std::ldexp(1.0f, -3);
  in[64] = 6.0f * std::ldexp(1.0f, -2);
  std::uint8_t qb[48], qs[3];
  mxfp4::quantize_row(in, 96, qb, qs);
  mxfp4::decode_row(qb, qs, 96, back);
  for (int i = 0; i < 96; ++i) BOOST_TEST(back[i] == in[i], "element " << i);
  BOOST_TEST(int(qs[0]) == 127 - 4);
}

BOOST_AUTO_TEST_CASE(bf16_rounds_to_nearest_even) {
  BOOST_TEST(to_bf16(1.0f).bits == 0x3f80);
  BOOST_TEST(to_float(bf16{0x3f80}) == 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  BOOST_TEST(to_bf16(1.0f + std::ldexp(1.0f, -8)).bits == 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6).
  BOOST_TEST(to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)).bits == 0x3f82);
  BOOST_TEST(to_bf16(-2.0f).bits == 0xc000);
  BOOST_TEST(std::isnan(to_float(to_bf16(NAN))));
  BOOST_TEST(std::isinf(to_float(to_bf16(INFINITY))));
}

BOOST_AUTO_TEST_CASE(swiglu_clamps_asymmetrically) {
  auto ref = [](double g, double l, double limit) {
    g = std::min(g, limit);
    l = std::clamp(l, -limit, limit);
    return g / (1.0 + std::exp(-1.702 * g)) * (l + 1.0);
  };
  for (double g : {-20.0, -7.5, -1.0, 0.0, 0.3, 6.9, 7.0, 12.0})
    for (double l : {-9.0, -7.0, -1.0, 0.0, 2.5, 7.0, 40.0})
      BOOST_TEST(math::swiglu(float(g), float(l), 7.0f) == ref(g, l, 7.0), tt::tolerance(1e-6));
  // The gate has no lower clamp: a very negative gate gives (almost) zero, not a clamped value.
  BOOST_TEST(std::fabs(math::swiglu(-100.0f, 1.0f, 7.0f)) < 1e-30f);
  // The linear side is clamped: l = 100 acts like l = 7, so the result is 8x the l = 0 result.
  BOOST_TEST(math::swiglu(1.0f, 100.0f, 7.0f) == 8.0f * math::swiglu(1.0f, 0.0f, 7.0f), tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(yarn_inverse_frequencies_match_the_formula) {
  // The spec's float64 table for D = 64, theta = 150000, s = 32, C0 = 4096, alpha = 1, beta = 32.
  const double table[32] = {1.000000000e+00, 6.890443059e-01, 4.747820555e-01, 3.271458719e-01, 2.254180002e-01,
                            1.553229895e-01, 1.070244215e-01, 7.374456821e-02, 5.081327482e-02, 3.170569618e-02,
                            1.933500113e-02, 1.159204926e-02, 6.794959490e-03, 3.860359317e-03, 2.093792379e-03,
                            1.052602101e-03, 4.564839192e-04, 1.293187012e-04, 3.830881237e-05, 2.639646903e-05,
                            1.818833668e-05, 1.253256982e-05, 8.635495875e-06, 5.950239261e-06, 4.099978482e-06,
                            2.825066827e-06, 1.946596211e-06, 1.341291035e-06, 9.242089502e-07, 6.368209146e-07,
                            4.387978251e-07, 3.023511428e-07};
  const math::Yarn y = gpt_oss_20b.yarn();
  for (int i = 0; i < 32; ++i) BOOST_TEST(y.inv_freq(i) == table[i], tt::tolerance(1e-5));
  BOOST_TEST(y.concentration() == 0.1 * std::log(32.0) + 1.0, tt::tolerance(1e-6));
  // Without scaling: plain RoPE and no concentration.
  math::Yarn plain = y;
  plain.scale = 1.0f;
  BOOST_TEST(plain.concentration() == 1.0f);
  BOOST_TEST(plain.inv_freq(5) == std::pow(150000.0, -10.0 / 64.0), tt::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(rope_rotates_half_split_pairs_and_scales_by_concentration) {
  const math::Yarn y = gpt_oss_20b.yarn();
  float inv[32], cs[64], z[64], orig[64];
  for (int i = 0; i < 32; ++i) inv[i] = y.inv_freq(i);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& v : z) v = u(rng);
  std::copy(z, z + 64, orig);
  const int pos = 1234;
  math::rope_table_row(y, inv, pos, cs);
  math::rope_rotate(z, cs, 64);
  const double c = y.concentration();
  for (int i = 0; i < 32; ++i) {
    const double a = double(float(pos) * inv[i]);  // the reference's float32 angle
    const double e0 = c * (orig[i] * std::cos(a) - orig[i + 32] * std::sin(a));
    const double e1 = c * (orig[i + 32] * std::cos(a) + orig[i] * std::sin(a));
    BOOST_TEST(z[i] == e0, tt::tolerance(1e-4));
    BOOST_TEST(z[i + 32] == e1, tt::tolerance(1e-4));
    // Each pair's length grows by exactly the concentration.
    const double before = std::hypot(orig[i], orig[i + 32]), after = std::hypot(z[i], z[i + 32]);
    BOOST_TEST(after == c * before, tt::tolerance(1e-5));
  }
}

// YaRN RoPE past the original context (4096) up to the last position of the 131072-token context,
// against the spec's closed form in float64: inv_i = p_i r_i + e_i (1 - r_i) with the fractional
// ramp, c = 0.1 ln(s) + 1, out = c (z1 cos a - z2 sin a, z2 cos a + z1 sin a) with a = p inv_i.
// The code computes inv_i in float32, as the reference does: a few ulps (2^-22 relative), plus,
// inside the ramp, the float32 ramp itself: the boundaries rounded to float32 (8.09 and 17.4, off
// by up to 4.8e-7 and 9.5e-7) and two roundings move r_i by up to 2^-21, so inv_i by that times
// (e_i - p_i). The angle is then one float32 product (2^-24 relative). So the angle may differ
// from the exact one by p (2^-22 inv_i + 2^-21 |e_i - p_i|) + 2^-24 a: at p = 131071 at most
// 0.03 rad for i = 0, and 2e-6 rad for the interpolated (i >= 18) frequencies. Each rotated pair
// may move by c |pair| times that, plus float32 rounding of cos, sin and the products.
BOOST_AUTO_TEST_CASE(yarn_rope_past_the_original_context_matches_the_closed_form) {
  const ModelConfig c = gpt_oss_20b;
  const ops::Rope rope(c);
  const int D = c.head_dim, half = D / 2;
  const double theta = c.rope_theta, s = c.rope_scaling_factor, C0 = c.initial_context_length;
  const double pi = 3.14159265358979323846;
  const double low = half * std::log(C0 / (c.rope_ntk_beta * 2 * pi)) / std::log(theta);
  const double high = half * std::log(C0 / (c.rope_ntk_alpha * 2 * pi)) / std::log(theta);
  BOOST_TEST(low == 8.092779115512402, tt::tolerance(1e-12));
  BOOST_TEST(high == 17.39802450158856, tt::tolerance(1e-12));
  const double conc = 0.1 * std::log(s) + 1.0;
  std::vector<double> inv(half), spread(half);
  for (int i = 0; i < half; ++i) {
    const double f = std::pow(theta, 2.0 * i / D), r = std::clamp((i - low) / (high - low), 0.0, 1.0);
    inv[i] = 1.0 / (s * f) * r + 1.0 / f * (1.0 - r);
    spread[i] = i > low && i < high ? 1.0 / f - 1.0 / (s * f) : 0.0;  // e_i - p_i inside the ramp
  }
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> cos_sin(D);
  for (std::int64_t pos : {4095, 4096, 4097, 8191, 32768, 65537, 100003, 131071}) {
    std::vector<float> z(2 * D);  // two heads
    for (float& x : z) x = u(rng);
    const std::vector<float> orig = z;
    rope.apply(z.data(), 2, pos, cos_sin.data());
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < half; ++i) {
        const double a = double(pos) * inv[i];
        const double z1 = orig[h * D + i], z2 = orig[h * D + i + half];
        const double e1 = conc * (z1 * std::cos(a) - z2 * std::sin(a));
        const double e2 = conc * (z2 * std::cos(a) + z1 * std::sin(a));
        const double angle_error = double(pos) * (0x1p-22 * inv[i] + 0x1p-21 * spread[i]) + 0x1p-24 * a;
        const double bound = conc * std::hypot(z1, z2) * (angle_error + 1e-6) + 1e-6;
        BOOST_TEST(std::fabs(z[h * D + i] - e1) <= bound, "position " << pos << " pair " << i << ": " << z[h * D + i] << " vs " << e1);
        BOOST_TEST(std::fabs(z[h * D + i + half] - e2) <= bound, "position " << pos << " pair " << i);
      }
  }
}

// merge_partial_states combines runs of keys as one softmax over all of them, and a run whose
// every key is masked (as GroupAttention leaves it after start() without a sink and no add():
// max -inf, sum 0) contributes nothing, wherever it comes among the parts.
BOOST_AUTO_TEST_CASE(merging_partial_states_with_an_empty_part) {
  constexpr int heads = 2, dim = 3, width = dim + 2;
  // Part A: head 0 has max 1, sum 2, acc (2, 4, 6) -> alone (1, 2, 3); head 1 is far below zero
  // (max -200: exp(-200) underflows float32, so a merge must rescale relative to the maximum).
  const float a[heads * width] = {2, 4, 6, 1, 2, /**/ 1, -1, 0.5f, -200, 4};
  // Part B: head 0 max 0, sum 1, acc (1, 1, 1); head 1 max -201, sum 1, acc (0, 1, 0).
  const float b[heads * width] = {1, 1, 1, 0, 1, /**/ 0, 1, 0, -201, 1};
  // An empty part, as the attention leaves it.
  std::vector<float> scratch(ops::GroupAttention::scratch_floats(heads, dim));
  ops::GroupAttention empty_group(heads, dim, scratch.data());
  empty_group.start(nullptr);
  float empty[heads * width];
  empty_group.save(empty);
  BOOST_TEST(empty[dim] == -INFINITY);
  BOOST_TEST(empty[dim + 1] == 0.0f);

  const double e = std::exp(-1.0);
  const double want_ab[heads][dim] = {{(2 + e) / (2 + e), (4 + e) / (2 + e), (6 + e) / (2 + e)},
                                      {1 / (4 + e), (-1 + e) / (4 + e), 0.5 / (4 + e)}};
  const double want_a[heads][dim] = {{1, 2, 3}, {0.25, -0.25, 0.125}};
  auto merged = [&](std::vector<const float*> parts) {
    std::vector<float> states;
    for (const float* p : parts) states.insert(states.end(), p, p + heads * width);
    std::vector<float> out(heads * dim, NAN);
    ops::merge_partial_states(states.data(), std::int64_t(parts.size()), heads, dim, out.data());
    return out;
  };
  auto check = [&](const std::vector<float>& got, const double (&want)[heads][dim], const char* what) {
    for (int h = 0; h < heads; ++h)
      for (int d = 0; d < dim; ++d) BOOST_TEST(got[h * dim + d] == want[h][d], tt::tolerance(1e-6) << what);
  };
  check(merged({a, b}), want_ab, "a b");
  check(merged({b, a}), want_ab, "b a");
  check(merged({a, empty}), want_a, "a empty");
  check(merged({empty, a}), want_a, "empty a");
  check(merged({empty, a, empty, b, empty}), want_ab, "empty a empty b empty");
}

namespace {
// Attention weights of n keys through the online softmax: each key's value is a one-hot vector,
// so the accumulated output is exactly the vector of weights.
std::vector<double> online_weights(const std::vector<float>& logits, math::SinkSoftmax state) {
  std::vector<double> acc(logits.size(), 0.0);
  for (std::size_t j = 0; j < logits.size(); ++j) {
    float w;
    const float rescale = state.add(logits[j], w);
    for (auto& a : acc) a *= rescale;
    acc[j] += w;
  }
  for (auto& a : acc) a /= state.sum;
  return acc;
}
}  // namespace

BOOST_AUTO_TEST_CASE(online_softmax_with_sink) {
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + std::exp(2.5);
  // Keys in increasing, decreasing and mixed order give the same closed-form weights.
  for (const std::vector<float>& order : {std::vector<float>{1, 2, 3}, {3, 2, 1}, {2, 3, 1}}) {
    const auto w = online_weights(order, math::SinkSoftmax::start(2.5f));
    double sum = 0.0;
    for (std::size_t j = 0; j < order.size(); ++j) {
      BOOST_TEST(w[j] == std::exp(double(order[j])) / z, tt::tolerance(1e-6));
      sum += w[j];
    }
    // The sink keeps some of the mass: the real keys' weights sum to less than one.
    BOOST_TEST(sum < 1.0);
    BOOST_TEST(sum == 1.0 - std::exp(2.5) / z, tt::tolerance(1e-6));
  }
  // A sink far below the logits takes (almost) nothing; huge logits do not overflow.
  const auto w = online_weights({1000.0f, 1000.0f}, math::SinkSoftmax::start(-1000.0f));
  BOOST_TEST(w[0] == 0.5, tt::tolerance(1e-6));
  // A sink far above every logit takes (almost) everything.
  const auto s = online_weights({0.0f, 0.0f}, math::SinkSoftmax::start(50.0f));
  BOOST_TEST(s[0] + s[1] < 1e-20);
}

BOOST_AUTO_TEST_CASE(sliding_window_masks_what_it_should) {
  // W visible keys, the query's own position included.
  using Sliding = SlidingAttentionWithSinks;  // the window given at run time
  BOOST_TEST(ops::visible_keys<Sliding>(0, 128).first == 0);
  BOOST_TEST(ops::visible_keys<Sliding>(127, 128).first == 0);
  BOOST_TEST(ops::visible_keys<Sliding>(128, 128).first == 1);
  BOOST_TEST(ops::visible_keys<Sliding>(1000, 128).first == 873);
  BOOST_TEST(ops::visible_keys<Sliding>(1000, 128).last == 1000);
  BOOST_TEST(ops::visible_keys<FullAttentionWithSinks>(1000, 128).first == 0);
  BOOST_TEST(gpt_oss_20b.is_sliding(0));
  BOOST_TEST(!gpt_oss_20b.is_sliding(1));
}

BOOST_AUTO_TEST_CASE(routing_picks_top_k_and_softmaxes_over_them_only) {
  const float logits[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f, 1.0f};
  int chosen[4];
  float w[4];
  math::route_top_k(logits, 6, 4, chosen, w);
  // Descending; the tie between experts 1 and 3 goes to the lower index.
  BOOST_TEST(chosen[0] == 1);
  BOOST_TEST(chosen[1] == 3);
  BOOST_TEST(chosen[2] == 4);
  BOOST_TEST(chosen[3] == 5);
  const double z = 2 * std::exp(3.0) + std::exp(2.0) + std::exp(1.0);
  BOOST_TEST(w[0] == std::exp(3.0) / z, tt::tolerance(1e-6));
  BOOST_TEST(w[3] == std::exp(1.0) / z, tt::tolerance(1e-6));
  BOOST_TEST(w[0] + w[1] + w[2] + w[3] == 1.0f, tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(rms_norm_by_hand) {
  const bf16 gain_bits[4] = {to_bf16(1.0f), to_bf16(2.0f), to_bf16(0.5f), to_bf16(-1.0f)};
  const Bf16Vector gain{gain_bits, 4};
  const float x[4] = {1.0f, -2.0f, 3.0f, 4.0f};
  float y[4];
  ops::rms_norm(x, gain, y);
  const double inv = 1.0 / std::sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-5);
  BOOST_TEST(y[0] == 1.0 * inv, tt::tolerance(1e-6));
  BOOST_TEST(y[1] == -4.0 * inv, tt::tolerance(1e-6));
  BOOST_TEST(y[2] == 1.5 * inv, tt::tolerance(1e-6));
  BOOST_TEST(y[3] == -4.0 * inv, tt::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(preset_values) {
  BOOST_TEST(gpt_oss_20b.num_hidden_layers == 24);
  BOOST_TEST(gpt_oss_120b.num_hidden_layers == 36);
  BOOST_TEST(gpt_oss_120b.num_experts == 128);
  BOOST_TEST(gpt_oss_20b.max_context() == 131072);
  BOOST_TEST(gpt_oss_20b.heads_per_kv() == 8);
  BOOST_TEST(gpt_oss_20b.parameter_count() == 20914757184);
}
