// The attention variant policy (core/attention_variant.hpp) against hand-computed key ranges, and
// the merge of partial softmax states against a float64 softmax over all the logits at once.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "gptoss/core/attention_variant.hpp"
#include "gptoss/core/bf16.hpp"
#include "gptoss/core/math.hpp"

using namespace gptoss;
namespace tt = boost::test_tools;

namespace {
using Full = AttentionVariant<full_window, true>;
using FullNoSinks = AttentionVariant<full_window, false>;
using Runtime = AttentionVariant<runtime_window, true>;
using Fixed = AttentionVariant<128, true>;
using FixedNoSinks = AttentionVariant<5, false>;

// What is compile-time: the members, and (constexpr) the first visible key itself.
static_assert(Full::window == 0 && Full::sinks && !Full::has_window && !Full::has_runtime_window);
static_assert(!FullNoSinks::sinks);
static_assert(Runtime::window == -1 && Runtime::has_window && Runtime::has_runtime_window);
static_assert(Fixed::window == 128 && Fixed::has_window && !Fixed::has_runtime_window);
static_assert(std::is_same_v<FullAttentionWithSinks, Full> && std::is_same_v<SlidingAttentionWithSinks, Runtime>);
static_assert(std::is_same_v<FixedSlidingAttentionWithSinks<128>, Fixed>);
// Full attention has no window dependency: its first key is 0 whatever runtime window is passed,
// and is a constant expression without one.
static_assert(Full::first_key(1000) == 0 && Full::first_key(1000, 1) == 0 && Full::first_key(1000, 128) == 0);
static_assert(Full::keys(128) == 0 && Full::keys(-7) == 0);
// A fixed window ignores the runtime argument too; only the runtime variant reads it.
static_assert(Fixed::first_key(1000, 1) == 873 && Fixed::keys(5) == 128);
static_assert(Runtime::first_key(1000, 128) == 873 && Runtime::first_key(1000, 1) == 1000);
}  // namespace

BOOST_AUTO_TEST_CASE(first_visible_key_of_each_variant) {
  // W visible keys, the query's own position included: the first is max(0, position - W + 1).
  for (std::int64_t pos : {0, 1, 5, 127, 128, 129, 1000, 131071}) {
    BOOST_TEST(Full::first_key(pos) == 0);
    BOOST_TEST(FullNoSinks::first_key(pos, 128) == 0);
  }
  // Below the window every earlier key is visible; from position W on the window slides.
  BOOST_TEST(Fixed::first_key(0) == 0);
  BOOST_TEST(Fixed::first_key(5) == 0);
  BOOST_TEST(Fixed::first_key(127) == 0);
  BOOST_TEST(Fixed::first_key(128) == 1);
  BOOST_TEST(Fixed::first_key(129) == 2);
  BOOST_TEST(Fixed::first_key(1000) == 873);
  BOOST_TEST(FixedNoSinks::first_key(3) == 0);
  BOOST_TEST(FixedNoSinks::first_key(4) == 0);
  BOOST_TEST(FixedNoSinks::first_key(5) == 1);
  BOOST_TEST(FixedNoSinks::first_key(9) == 5);
  // The runtime window, as read from a config: 128 as gpt-oss, and others.
  BOOST_TEST(Runtime::first_key(127, 128) == 0);
  BOOST_TEST(Runtime::first_key(128, 128) == 1);
  BOOST_TEST(Runtime::first_key(1000, 128) == 873);
  BOOST_TEST(Runtime::first_key(3, 4) == 0);
  BOOST_TEST(Runtime::first_key(4, 4) == 1);
  BOOST_TEST(Runtime::first_key(10, 1) == 10);  // a window of one: the query's own key only
  BOOST_TEST(Runtime::keys(77) == 77);
  // Positions past 2^31 stay exact (64-bit arithmetic).
  BOOST_TEST(Fixed::first_key(std::int64_t(1) << 33) == (std::int64_t(1) << 33) - 127);
}

BOOST_AUTO_TEST_CASE(sink_logit_of_each_variant) {
  const float sinks[3] = {0.5f, -2.25f, 3.0f};
  const bf16 sinks16[3] = {to_bf16(0.5f), to_bf16(-2.25f), to_bf16(3.0f)};
  for (int h = 0; h < 3; ++h) {
    BOOST_TEST(Full::sink_logit(sinks, h) == sinks[h]);
    BOOST_TEST(Runtime::sink_logit(sinks16, h) == sinks[h]);  // exact in bf16
    BOOST_TEST(FullNoSinks::sink_logit(sinks, h) == -INFINITY);
  }
  // Without sinks the sink array is never read: null is fine.
  BOOST_TEST(FullNoSinks::sink_logit(static_cast<const float*>(nullptr), 7) == -INFINITY);
  BOOST_TEST(FixedNoSinks::sink_logit(static_cast<const bf16*>(nullptr), 0) == -INFINITY);
}

namespace {
// Runs of logits through the online softmax (math::SinkSoftmax without a sink), each saved as
// a partial state [acc (dim), max, sum] `stride` floats apart, as the kernels save them.
std::vector<float> partial_states(const std::vector<float>& logits, const std::vector<float>& values, int dim,
                                  const std::vector<std::size_t>& cuts, std::int64_t stride) {
  const std::size_t parts = cuts.size() + 1;
  std::vector<float> states(parts * std::size_t(stride), NAN);
  std::size_t begin = 0;
  for (std::size_t p = 0; p < parts; ++p) {
    const std::size_t end = p < cuts.size() ? cuts[p] : logits.size();
    math::SinkSoftmax sm{-INFINITY, 0.0f};
    std::vector<float> acc(std::size_t(dim), 0.0f);
    for (std::size_t j = begin; j < end; ++j) {
      float w;
      const float rescale = sm.add(logits[j], w);
      for (int d = 0; d < dim; ++d) acc[std::size_t(d)] = acc[std::size_t(d)] * rescale + w * values[j * dim + d];
    }
    float* st = states.data() + p * std::size_t(stride);
    std::memcpy(st, acc.data(), sizeof(float) * std::size_t(dim));
    st[dim] = sm.max, st[dim + 1] = sm.sum;
    begin = end;
  }
  return states;
}

// softmax over the sink (if finite) and every logit at once, in float64: the weighted sum of values,
// and in `mag` the weighted sum of their magnitudes (the scale of a float32 rounding error).
std::vector<double> reference(const std::vector<float>& logits, const std::vector<float>& values, int dim,
                              double sink, std::vector<double>& mag) {
  double m = sink;
  for (float l : logits) m = std::max(m, double(l));
  double z = std::isinf(sink) ? 0.0 : std::exp(sink - m);
  for (float l : logits) z += std::exp(double(l) - m);
  std::vector<double> out(std::size_t(dim), 0.0);
  mag.assign(std::size_t(dim), 0.0);
  for (std::size_t j = 0; j < logits.size(); ++j)
    for (int d = 0; d < dim; ++d) {
      const double w = std::exp(double(logits[j]) - m) / z;
      out[std::size_t(d)] += w * values[j * dim + d];
      mag[std::size_t(d)] += w * std::fabs(values[j * dim + d]);
    }
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(merged_partial_states_equal_one_softmax_over_all_logits) {
  constexpr int dim = 7;
  std::mt19937 rng(2024);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t n = 1 + std::size_t(trial) * 13 % 97;
    const float spread = trial % 4 == 3 ? 60.0f : 6.0f;  // some far apart: exp underflows in float32
    std::vector<float> logits(n), values(n * dim);
    for (float& l : logits) l = spread * u(rng);
    for (float& v : values) v = u(rng);
    // Cuts at random points, some runs empty (max -inf, sum 0), as splits past the last key are.
    std::vector<std::size_t> cuts;
    const int parts = 1 + trial % 6;
    for (int p = 1; p < parts; ++p) cuts.push_back(std::uniform_int_distribution<std::size_t>(0, n)(rng));
    std::sort(cuts.begin(), cuts.end());
    if (trial % 5 == 0) cuts.push_back(n);  // an empty last part
    const std::int64_t stride = dim + 2 + trial % 3;  // the states need not be packed
    const auto states = partial_states(logits, values, dim, cuts, stride);
    const math::PartialStates view{states.data(), stride, std::int64_t(cuts.size() + 1), dim};
    for (double sink : {-double(INFINITY), 0.75, -3.5, 40.0}) {
      const float sink_f = float(sink);
      const math::SoftmaxMerge merge = math::SoftmaxMerge::of(view, sink_f);
      std::vector<double> mag;
      const auto want = reference(logits, values, dim, sink, mag);
      std::vector<float> all(dim, NAN);
      merge.values(view, all.data());
      for (int d = 0; d < dim; ++d) {
        const std::size_t i = std::size_t(d);
        const float one = merge.value(view, d);
        BOOST_TEST(std::fabs(one - want[i]) <= 2e-5 * mag[i] + 1e-37,
                   "trial " << trial << " sink " << sink << " dim " << d << ": " << one << " vs " << want[i]);
        // Per dim (the CUDA combine kernel) and all dims (the host) add the parts in one order.
        BOOST_TEST(std::fabs(all[i] - one) <= 1e-6 * mag[i] + 1e-37, "trial " << trial << " dim " << d);
      }
      // The normaliser against float64 too.
      double m = sink, z = 0.0;
      for (float l : logits) m = std::max(m, double(l));
      BOOST_TEST(double(merge.max) == m);
      z = std::isinf(sink) ? 0.0 : std::exp(sink - m);
      for (float l : logits) z += std::exp(double(l) - m);
      BOOST_TEST(double(merge.inv_sum) == 1.0 / z, tt::tolerance(1e-5));
    }
  }
}

BOOST_AUTO_TEST_CASE(merge_of_a_single_part_with_a_dominant_sink) {
  // One key, logit 0, value (1, 2), and a sink of log(3): the key's weight is 1 / (1 + 3).
  const float st[4] = {1.0f, 2.0f, 0.0f, 1.0f};
  const math::PartialStates view{st, 4, 1, 2};
  const math::SoftmaxMerge m = math::SoftmaxMerge::of(view, std::log(3.0f));
  BOOST_TEST(m.value(view, 0) == 0.25f, tt::tolerance(1e-6f));
  BOOST_TEST(m.value(view, 1) == 0.5f, tt::tolerance(1e-6f));
  // No sink: the key alone.
  const math::SoftmaxMerge plain = math::SoftmaxMerge::of(view);
  BOOST_TEST(plain.value(view, 0) == 1.0f);
  BOOST_TEST(plain.value(view, 1) == 2.0f);
  BOOST_TEST(plain.factor(-INFINITY) == 0.0f);
}
