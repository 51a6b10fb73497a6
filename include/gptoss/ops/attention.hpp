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

// Softmax over `scores` with an optional sink logit, in place: returns the weights of the real
// keys, which sum to less than one when there is a sink.
inline void softmax_with_sink(float* scores, std::int64_t n, const float* sink) {
  float m = sink ? *sink : -INFINITY;
  for (std::int64_t j = 0; j < n; ++j) m = std::max(m, scores[j]);
  float z = sink ? std::exp(*sink - m) : 0.0f;
  for (std::int64_t j = 0; j < n; ++j) z += (scores[j] = std::exp(scores[j] - m));
  const float inv = 1.0f / z;
  for (std::int64_t j = 0; j < n; ++j) scores[j] *= inv;
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

    const int win = window(c);
    const float scale = 1.0f / std::sqrt(float(D));
    const int group = c.heads_per_kv();
    ws.pool.parallel_for(T * Hq, [&](std::int64_t begin, std::int64_t end, int worker) {
      for (std::int64_t item = begin; item < end; ++item) {
        const std::int64_t t = item / Hq;
        const int h = int(item % Hq), g = h / group;
        const Segment& seg = segments[ws.segment_of[t]];
        const std::int64_t pos = ws.position[t], start = seg.cache->length();
        const KeyRange keys = visible_keys(pos, win);
        const std::int64_t n = keys.last - keys.first + 1;
        // Keys of this call's tokens are read from k and v; earlier ones from the cache.
        auto key = [&](std::int64_t j) -> const float* {
          return j >= start ? k + (seg.offset + j - start) * KV + g * D : seg.cache->key(layer, j) + g * D;
        };
        auto value = [&](std::int64_t j) -> const float* {
          return j >= start ? v + (seg.offset + j - start) * KV + g * D : seg.cache->value(layer, j) + g * D;
        };
        float* scores = ws.scratch.get(worker, std::size_t(n));
        const float* qh = q + t * Q + h * D;
        for (std::int64_t j = 0; j < n; ++j) scores[j] = dot(qh, key(keys.first + j), D) * scale;
        const float sink = w.sinks[h];
        softmax_with_sink(scores, n, Sinks ? &sink : nullptr);
        float* oh = o + t * Q + h * D;
        std::fill(oh, oh + D, 0.0f);
        for (std::int64_t j = 0; j < n; ++j) {
          const float* vj = value(keys.first + j);
          for (int d = 0; d < D; ++d) oh[d] += scores[j] * vj[d];
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
