// The attention variant as a compile-time policy (in the manner of FlashInfer's variants), and the
// merge of partial softmax states. Both backends' attention kernels call these GPTOSS_HD functions,
// so the window mask, the sink and the merge are written once.
//
// A variant fixes what differs between gpt-oss layers:
// - window: the number of visible keys, the query's own position included. full_window (0): every
//   earlier position, and the kernels compile no window logic; runtime_window (-1): taken from a
//   run-time argument (a config read from the checkpoint); a positive count: that constant.
// - sinks: whether each head's softmax has a learned sink logit in its denominator (spec 3.3).
//   Without sinks the softmax starts empty, and no sink is read.
#pragma once
#include <cmath>
#include <cstdint>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/hd.hpp"

namespace gptoss {

inline constexpr int full_window = 0;
inline constexpr int runtime_window = -1;

template <int Window, bool Sinks>
struct AttentionVariant {
  static_assert(Window >= runtime_window, "a window is full_window, runtime_window or a count of keys");
  static constexpr int window = Window;
  static constexpr bool sinks = Sinks;
  static constexpr bool has_window = Window != full_window;
  static constexpr bool has_runtime_window = Window == runtime_window;

  // The window in keys, 0 for full attention; `runtime` is read only by the runtime-window variant.
  GPTOSS_HD static constexpr int keys(int runtime) {
    if constexpr (has_runtime_window) return runtime;
    else return Window;
  }

  // The first key position visible to a query at `position` (the last is `position` itself).
  // `runtime` is the window of the runtime-window variant, ignored by the others.
  GPTOSS_HD static constexpr std::int64_t first_key(std::int64_t position, int runtime = 0) {
    if constexpr (!has_window) {
      (void)position, (void)runtime;
      return 0;
    } else {
      const std::int64_t first = position - keys(runtime) + 1;
      return first > 0 ? first : 0;
    }
  }

  // The logit head h's softmax starts from: its sink, or -INFINITY (nothing) without sinks, in
  // which case `sinks` is never read and may be null.
  GPTOSS_HD static float sink_logit(const float* sinks, int h) {
    if constexpr (Sinks) return sinks[h];
    else {
      (void)sinks, (void)h;
      return -INFINITY;
    }
  }
  GPTOSS_HD static float sink_logit(const bf16* sinks, int h) {
    if constexpr (Sinks) return to_float(sinks[h]);
    else {
      (void)sinks, (void)h;
      return -INFINITY;
    }
  }
};

// The variants of gpt-oss's layers: every layer has sinks; even layers slide over a window of
// sliding_window keys (a compile-time constant when the config is).
using FullAttentionWithSinks = AttentionVariant<full_window, true>;
using SlidingAttentionWithSinks = AttentionVariant<runtime_window, true>;
template <int Window>
using FixedSlidingAttentionWithSinks = AttentionVariant<Window, true>;

namespace math {

// `parts` partial softmax states of one head over disjoint runs of its keys: part p's unnormalised
// weighted sum of values (acc, dim floats), then its running maximum and its sum of exp(logit - max),
// at base + p * stride. A part whose keys were all masked has max -INFINITY and sum 0.
struct PartialStates {
  const float* base;
  std::int64_t stride;
  std::int64_t parts;
  int dim;

  GPTOSS_HD const float* acc(std::int64_t p) const { return base + p * stride; }
  GPTOSS_HD float max(std::int64_t p) const { return base[p * stride + dim]; }
  GPTOSS_HD float sum(std::int64_t p) const { return base[p * stride + dim + 1]; }
};

// The merge of partial states into one softmax, with an optional sink logit (-INFINITY for none)
// that only enlarges the denominator: every part is rescaled to the largest maximum. of() finds that
// maximum and the normaliser; value(d) is one output dim (a CUDA thread per dim), values() all of
// them (the host's loop, each part's factor computed once). Both add the parts in order, so they
// give the same dims.
struct SoftmaxMerge {
  float max;      // the largest of the parts' maxima and the sink
  float inv_sum;  // 1 / (exp(sink - max) + sum_p sum_p * exp(max_p - max))

  // exp(part_max - max), and 0 for an empty part (or no sink).
  GPTOSS_HD float factor(float part_max) const { return part_max == -INFINITY ? 0.0f : expf(part_max - max); }

  GPTOSS_HD static SoftmaxMerge of(const PartialStates& s, float sink = -INFINITY) {
    SoftmaxMerge r{sink, 0.0f};
    for (std::int64_t p = 0; p < s.parts; ++p) r.max = fmaxf(r.max, s.max(p));
    float z = r.factor(sink);
    for (std::int64_t p = 0; p < s.parts; ++p) {
      const float mp = s.max(p);
      if (mp != -INFINITY) z += s.sum(p) * r.factor(mp);
    }
    r.inv_sum = 1.0f / z;
    return r;
  }

  GPTOSS_HD float value(const PartialStates& s, int d) const {
    float acc = 0.0f;
    for (std::int64_t p = 0; p < s.parts; ++p) {
      const float mp = s.max(p);
      if (mp != -INFINITY) acc += s.acc(p)[d] * factor(mp);
    }
    return acc * inv_sum;
  }

  GPTOSS_HD void values(const PartialStates& s, float* out) const {
    for (int d = 0; d < s.dim; ++d) out[d] = 0.0f;
    for (std::int64_t p = 0; p < s.parts; ++p) {
      const float mp = s.max(p);
      if (mp == -INFINITY) continue;
      const float f = factor(mp);
      const float* a = s.acc(p);
      for (int d = 0; d < s.dim; ++d) out[d] += a[d] * f;
    }
    for (int d = 0; d < s.dim; ++d) out[d] *= inv_sum;
  }
};

}  // namespace math
}  // namespace gptoss
