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
inline float fold_block(math::SinkSoftmax& sm, float* s, int n) {
  const float block_max = *std::max_element(s, s + n);
  float rescale = 1.0f;
  if (block_max > sm.max) {
    rescale = std::exp(sm.max - block_max);
    sm.sum *= rescale;
    sm.max = block_max;
  }
  for (int j = 0; j < n; ++j) sm.sum += (s[j] = std::exp(s[j] - sm.max));
  return rescale;
}

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
    ws.pool.parallel_for(T * Hkv, [&](std::int64_t begin, std::int64_t end, int worker) {
      float* acc = ws.scratch.get(worker, std::size_t(group) * (D + 2) + key_block);
      float* max = acc + group * D;
      float* sum = max + group;
      float* s = sum + group;
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
        std::fill(acc, acc + group * D, 0.0f);
        for (int i = 0; i < group; ++i) {
          const math::SinkSoftmax sm = math::SinkSoftmax::start(Sinks ? w.sinks[g * group + i] : -INFINITY);
          max[i] = sm.max, sum[i] = Sinks ? sm.sum : 0.0f;
        }
        for (std::int64_t j = keys.first; j <= keys.last;) {
          // A run of keys contiguous in memory (the cache's ring wraps, the batch starts anew).
          const float* kj = row(k, true, j);
          const float* vj = row(v, false, j);
          int n = 1;
          while (n < key_block && j + n <= keys.last && row(k, true, j + n) == kj + n * KV) ++n;
          for (int i = 0; i < group; ++i) {
            const int h = g * group + i;
            kern.scores(q + t * Q + h * D, kj, KV, n, D, scale, s);
            math::SinkSoftmax sm{max[i], sum[i]};
            const float rescale = fold_block(sm, s, n);
            max[i] = sm.max, sum[i] = sm.sum;
            kern.accumulate(s, vj, KV, n, D, rescale, acc + i * D);
          }
          j += n;
        }
        for (int i = 0; i < group; ++i) {
          float* oh = o + t * Q + (g * group + i) * D;
          const float inv = 1.0f / sum[i];
          for (int d = 0; d < D; ++d) oh[d] = acc[i * D + d] * inv;
        }
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
