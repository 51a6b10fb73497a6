// Attention<Window, Sinks> (spec 3.3): QKV projection with bias, YaRN RoPE on q and k, grouped-query
// attention over the visible keys (causal, and at most Window of them on sliding layers), a learned
// per-head sink logit in the softmax denominator, and the output projection.
//
// Window is the number of visible keys, the query's own position included: full_window (0) means
// all earlier positions, runtime_window takes the config's sliding_window at run time.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/math.hpp"
#include "gptoss/host/kernels.hpp"
#include "gptoss/model/kv_cache.hpp"
#include "gptoss/model/weights.hpp"
#include "gptoss/ops/rope.hpp"
#include "gptoss/ops/workspace.hpp"

namespace gptoss::ops {

inline constexpr int full_window = 0;
inline constexpr int runtime_window = -1;

// Visible key positions [first, last] for a query at `position`.
struct KeyRange {
  std::int64_t first, last;
};
inline KeyRange visible_keys(std::int64_t position, int window) {
  return {window > 0 ? std::max<std::int64_t>(0, position - window + 1) : 0, position};
}

// Keys scored at a time: a block's keys and values (32 KB at head_dim 64) stay in L1 while every
// query head of their group uses them.
inline constexpr int key_block = 64;

// Folds a block of n scores into an online softmax (spec 3.3, math::SinkSoftmax): the scores are
// replaced by their unnormalised weights; returns the factor by which the values accumulated so
// far must be rescaled (1 when the running maximum did not grow).
inline float fold_block(const host_detail::Kernels& kern, math::SinkSoftmax& sm, float* s, int n) {
  const float block_max = *std::max_element(s, s + n);
  float rescale = 1.0f;
  if (block_max > sm.max) {
    rescale = std::exp(sm.max - block_max);
    sm.sum *= rescale;
    sm.max = block_max;
  }
  sm.sum += kern.exp_shifted(s, n, sm.max);
  return rescale;
}

// The running state of `group` query heads that share one key/value head: per head the online
// softmax (max, sum) and the weighted sum of values (acc, group x dim), plus room for one block's
// scores. All of it lives in caller-provided scratch of scratch_floats(group, dim) floats.
struct GroupAttention {
  int group, dim;
  float *acc, *max, *sum, *s;

  static std::size_t scratch_floats(int group, int dim) { return std::size_t(group) * (dim + 2) + key_block; }
  GroupAttention(int g, int d, float* scratch)
      : group(g), dim(d), acc(scratch), max(acc + g * d), sum(max + g), s(sum + g) {}

  // sinks: the group's sink logits, or null for plain softmax.
  void start(const float* sinks) {
    std::fill(acc, acc + group * dim, 0.0f);
    for (int i = 0; i < group; ++i) {
      const math::SinkSoftmax sm = math::SinkSoftmax::start(sinks ? sinks[i] : -INFINITY);
      max[i] = sm.max, sum[i] = sinks ? sm.sum : 0.0f;
    }
  }
  // Adds n <= key_block keys and values, `stride` floats apart, for all heads of q (group x dim).
  void add(const host_detail::Kernels& kern, const float* q, const float* keys, const float* values,
           std::int64_t stride, int n, float scale) {
    for (int i = 0; i < group; ++i) {
      kern.scores(q + i * dim, keys, stride, n, dim, scale, s);
      math::SinkSoftmax sm{max[i], sum[i]};
      const float rescale = fold_block(kern, sm, s, n);
      max[i] = sm.max, sum[i] = sm.sum;
      kern.accumulate(s, values, stride, n, dim, rescale, acc + i * dim);
    }
  }
  // out: group x dim, the normalised outputs.
  void finish(float* out) const {
    for (int i = 0; i < group; ++i) {
      const float inv = 1.0f / sum[i];
      for (int d = 0; d < dim; ++d) out[i * dim + d] = acc[i * dim + d] * inv;
    }
  }
};

template <int Window, bool Sinks = true>
class Attention {
 public:
  static_assert(Window >= runtime_window);

  static int window(const ModelConfig& c) { return Window == runtime_window ? c.sliding_window : Window; }

  // x_norm: [tokens, H], the normalised residual stream of every token of the batch; out: [tokens, H].
  static void forward(const ModelConfig& c, int layer, const AttentionWeights& w, const Rope& rope,
                      const float* x_norm, std::span<const Segment> segments, Workspace& ws, float* out) {
    using namespace host_detail;
    const std::int64_t T = ws.tokens;
    const int H = c.hidden_size, D = c.head_dim, Hq = c.num_attention_heads, Q = c.q_width(), KV = c.kv_width();
    float* q = ws.buffer(ws.q, T * Q);
    float* k = ws.buffer(ws.k, T * KV);
    float* v = ws.buffer(ws.v, T * KV);
    float* o = ws.buffer(ws.o, T * Q);
    matmul(Bf16Rows{w.q}, &w.q_bias, x_norm, H, int(T), q, Q, ws.pool, ws.scratch);
    matmul(Bf16Rows{w.k}, &w.k_bias, x_norm, H, int(T), k, KV, ws.pool, ws.scratch);
    matmul(Bf16Rows{w.v}, &w.v_bias, x_norm, H, int(T), v, KV, ws.pool, ws.scratch);
    ws.trace("q", layer, q, T, Q);
    ws.trace("k", layer, k, T, KV);
    ws.trace("v", layer, v, T, KV);

    ws.pool.parallel_for(T, [&](std::int64_t begin, std::int64_t end, int worker) {
      float* cos_sin = ws.scratch.get(worker, std::size_t(D));
      for (std::int64_t t = begin; t < end; ++t) {
        const std::int64_t pos = ws.position[t];
        rope.apply(q + t * Q, Hq, pos, cos_sin);
        rope.apply(k + t * KV, c.num_key_value_heads, pos, cos_sin);
      }
    });
    ws.trace("q_rope", layer, q, T, Q);
    ws.trace("k_rope", layer, k, T, KV);

    // One work item is one token and one key/value head: each block of its keys is read once for
    // all the query heads that share it.
    const int win = window(c);
    const float scale = 1.0f / std::sqrt(float(D));
    const int group = c.heads_per_kv(), Hkv = c.num_key_value_heads;
    const Kernels& kern = kernels();
    std::vector<float>& sinks = Workspace::buffer_vector(ws.sinks, Hq);
    for (int h = 0; h < Hq; ++h) sinks[h] = w.sinks[h];
    ws.pool.parallel_for(T * Hkv, [&](std::int64_t begin, std::int64_t end, int worker) {
      GroupAttention ga(group, D, ws.scratch.get(worker, GroupAttention::scratch_floats(group, D)));
      for (std::int64_t item = begin; item < end; ++item) {
        const std::int64_t t = item / Hkv;
        const int g = int(item % Hkv);
        const Segment& seg = segments[ws.segment_of[t]];
        const std::int64_t pos = ws.position[t], start = seg.cache->length();
        const KeyRange keys = visible_keys(pos, win);
        // Keys of this call's tokens are read from k and v; earlier ones from the cache.
        auto row = [&](const float* batch, bool is_key, std::int64_t j) -> const float* {
          if (j >= start) return batch + (seg.offset + j - start) * KV + g * D;
          return (is_key ? seg.cache->key(layer, j) : seg.cache->value(layer, j)) + g * D;
        };
        ga.start(Sinks ? sinks.data() + g * group : nullptr);
        for (std::int64_t j = keys.first; j <= keys.last;) {
          // A run of keys contiguous in memory (the cache's ring wraps, the batch starts anew).
          const float* kj = row(k, true, j);
          int n = 1;
          while (n < key_block && j + n <= keys.last && row(k, true, j + n) == kj + n * KV) ++n;
          ga.add(kern, q + t * Q + g * group * D, kj, row(v, false, j), KV, n, scale);
          j += n;
        }
        ga.finish(o + t * Q + g * group * D);
      }
    });
    ws.trace("attn_heads", layer, o, T, Q);

    // Only now may the cache take this call's keys: a ring slot may hold a key still needed above.
    for (const Segment& seg : segments)
      for (std::int64_t i = 0; i < seg.length; ++i) {
        const std::int64_t pos = seg.cache->length() + i;
        std::memcpy(seg.cache->key(layer, pos), k + (seg.offset + i) * KV, sizeof(float) * KV);
        std::memcpy(seg.cache->value(layer, pos), v + (seg.offset + i) * KV, sizeof(float) * KV);
      }

    matmul(Bf16Rows{w.out}, &w.out_bias, o, Q, int(T), out, H, ws.pool, ws.scratch);
  }
};

}  // namespace gptoss::ops
