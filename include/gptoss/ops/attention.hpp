// Attention<Variant> (spec 3.3): QKV projection with bias, YaRN RoPE on q and k, grouped-query
// attention over the visible keys (causal, and at most the variant's window of them on sliding
// layers), a learned per-head sink logit in the softmax denominator when the variant has sinks, and
// the output projection.
//
// The variant (core/attention_variant.hpp) is the compile-time policy the CUDA kernels use too: its
// window is the number of visible keys, the query's own position included (full_window: all
// earlier positions, with no window logic compiled; runtime_window: the config's sliding_window at
// run time), and without sinks no sink is read.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/attention_variant.hpp"
#include "gptoss/core/math.hpp"
#include "gptoss/host/kernels.hpp"
#include "gptoss/host/kv_cache.hpp"
#include "gptoss/io/weights.hpp"
#include "gptoss/ops/rope.hpp"
#include "gptoss/ops/workspace.hpp"

namespace gptoss::ops {

using gptoss::full_window;
using gptoss::runtime_window;

// Visible key positions [first, last] for a query at `position` under a variant; `window` is read
// only by the runtime-window variant.
struct KeyRange {
  std::int64_t first, last;
};
template <class Variant>
KeyRange visible_keys(std::int64_t position, int window) {
  return {Variant::first_key(position, window), position};
}

// Keys scored at a time: a block's keys and values (32 KB at head_dim 64) stay in L1 while every
// query head of their group uses them.
inline constexpr int key_block = 64;

// The running state of `group` query heads that share one key/value head: per head the online
// softmax (max, sum; spec 3.3, math::SinkSoftmax) and the weighted sum of values (acc, group x dim),
// plus room for one block's scores. All of it lives in caller-provided scratch of
// scratch_floats(group, dim) floats.
struct GroupAttention {
  int group, dim;
  float *acc, *max, *sum, *block_max, *rescale, *s;

  static std::size_t scratch_floats(int group, int dim) { return std::size_t(group) * (dim + 4 + key_block); }
  GroupAttention(int g, int d, float* scratch)
      : group(g), dim(d), acc(scratch), max(acc + g * d), sum(max + g), block_max(sum + g), rescale(block_max + g),
        s(rescale + g) {}

  // sinks: the group's sink logits, or null for plain softmax (as is a sink of -INFINITY).
  void start(const float* sinks) {
    std::fill(acc, acc + group * dim, 0.0f);
    for (int i = 0; i < group; ++i) {
      const float sink = sinks ? sinks[i] : -INFINITY;
      const math::SinkSoftmax sm = math::SinkSoftmax::start(sink);
      max[i] = sm.max, sum[i] = sink == -INFINITY ? 0.0f : sm.sum;
    }
  }
  // Adds n <= key_block keys and values, `stride` floats apart, for all heads of q (group x dim):
  // the block's scores become their unnormalised weights exp(s - max), and what was accumulated
  // before is rescaled when the block raises a head's running maximum.
  void add(const host::Kernels& kern, const float* q, const float* keys, const float* values,
           std::int64_t stride, int n, float scale) {
    kern.scores(q, group, dim, keys, stride, n, scale, s, key_block, block_max);
    for (int i = 0; i < group; ++i) {
      rescale[i] = 1.0f;
      if (block_max[i] > max[i]) {
        rescale[i] = std::exp(max[i] - block_max[i]);
        sum[i] *= rescale[i];
        max[i] = block_max[i];
      }
      sum[i] += kern.exp_shifted(s + i * key_block, n, max[i]);
    }
    kern.accumulate(s, key_block, group, dim, values, stride, n, rescale, acc);
  }
  // The state of each head, for merge_partial_states: acc (dim floats), max, sum.
  void save(float* state) const {
    for (int i = 0; i < group; ++i, state += dim + 2) {
      std::copy(acc + i * dim, acc + (i + 1) * dim, state);
      state[dim] = max[i], state[dim + 1] = sum[i];
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

// All query heads of one token: kv_heads groups of GroupAttention side by side. Each group reads
// its own key/value head, whose keys lie one after another in the cache (KvCache's layout), so
// that a run of them is one stream and a block of 64 stays in L1 for all the group's query heads.
struct TokenAttention {
  int kv_heads, group, dim;
  float* scratch;

  static std::size_t scratch_floats(int kv_heads, int group, int dim) {
    return std::size_t(kv_heads) * GroupAttention::scratch_floats(group, dim);
  }
  GroupAttention head_group(int g) const {
    return GroupAttention(group, dim, scratch + std::size_t(g) * GroupAttention::scratch_floats(group, dim));
  }
  // sinks: one logit per query head, or null.
  void start(const float* sinks) {
    for (int g = 0; g < kv_heads; ++g) head_group(g).start(sinks ? sinks + g * group : nullptr);
  }
  // q: the token's queries (kv_heads x group x dim); n <= key_block consecutive keys and values
  // (dim floats each) of key/value head g.
  void add(const host::Kernels& kern, int g, const float* q, const float* keys, const float* values, int n,
           float scale) {
    head_group(g).add(kern, q + g * group * dim, keys, values, dim, n, scale);
  }
  void finish(float* out) const {
    for (int g = 0; g < kv_heads; ++g) head_group(g).finish(out + g * group * dim);
  }
  void save(float* state) const {
    for (int g = 0; g < kv_heads; ++g) head_group(g).save(state + std::size_t(g) * group * (dim + 2));
  }
};

// The outputs of `heads` heads from the states (as GroupAttention::save) of `parts` disjoint runs
// of their keys: each run's values and sum are rescaled to the largest running maximum
// (math::SoftmaxMerge, which the CUDA combine kernel runs too). The sink, if any, is already in the
// first part's state.
inline void merge_partial_states(const float* states, std::int64_t parts, int heads, int dim, float* out) {
  const std::int64_t stride = std::int64_t(heads) * (dim + 2);
  for (int h = 0; h < heads; ++h) {
    const math::PartialStates head{states + std::size_t(h) * (dim + 2), stride, parts, dim};
    math::SoftmaxMerge::of(head).values(head, out + std::size_t(h) * dim);
  }
}

// Every token's visible keys are split into parts of keys_per_item keys (from the first visible
// one), whose softmax states are merged by merge_partial_states; within a part, keys are added in
// blocks aligned to absolute key positions (multiples of key_block). So the arithmetic of a
// token's attention depends on its position and its keys only, never on the other tokens of the
// call, on how its sequence was cut into calls, or on where the cache's ring wraps. Calls of at
// most split_tokens tokens (decoding) make each part a work item, so that a long context is shared
// among the workers; longer calls make each token one, which runs its parts one after another.
inline constexpr std::int64_t split_tokens = 4;
inline constexpr std::int64_t keys_per_item = 1024;
static_assert(keys_per_item % key_block == 0);

template <class Variant>
class Attention {
 public:
  using variant = Variant;

  // The window in keys (0: full attention); the config is read only by the runtime-window variant.
  static int window(const ModelConfig& c) { return Variant::keys(c.sliding_window); }

  // x_norm: [tokens, H], the normalised residual stream of every token of the batch; out: [tokens, H].
  static void forward(const ModelConfig& c, int layer, const AttentionWeights& w, const Rope& rope,
                      const float* x_norm, std::span<const Segment> segments, Workspace& ws, float* out) {
    using namespace host;
    const std::int64_t T = ws.tokens;
    const int H = c.hidden_size, D = c.head_dim, Hq = c.num_attention_heads, Q = c.q_width(), KV = c.kv_width();
    float* q = ws.buffer(ws.q, T * Q);
    float* k = ws.buffer(ws.k, T * KV);
    float* v = ws.buffer(ws.v, T * KV);
    float* o = ws.buffer(ws.o, T * Q);
    matmul(Bf16Rows{w.q}, &w.q_bias, x_norm, H, int(T), q, Q, ws.pool, ws.scratch, ws.kernels);
    matmul(Bf16Rows{w.k}, &w.k_bias, x_norm, H, int(T), k, KV, ws.pool, ws.scratch, ws.kernels);
    matmul(Bf16Rows{w.v}, &w.v_bias, x_norm, H, int(T), v, KV, ws.pool, ws.scratch, ws.kernels);
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

    // This call's keys and values by head, [Hkv][T][D], as the cache holds them.
    const int group = c.heads_per_kv(), Hkv = c.num_key_value_heads;
    float* k_heads = ws.buffer(ws.k_heads, T * KV);
    float* v_heads = ws.buffer(ws.v_heads, T * KV);
    for (std::int64_t t = 0; t < T; ++t)
      for (int g = 0; g < Hkv; ++g) {
        std::memcpy(k_heads + (g * T + t) * D, k + t * KV + g * D, sizeof(float) * D);
        std::memcpy(v_heads + (g * T + t) * D, v + t * KV + g * D, sizeof(float) * D);
      }

    // One work item is one token's keys, or for a few tokens (decoding) a chunk of them, for every
    // key/value head.
    const int win = window(c);
    const float scale = 1.0f / std::sqrt(float(D));
    const Kernels& kern = kernels();
    std::vector<float>& sinks = Workspace::buffer_vector(ws.sinks, Hq);
    if constexpr (Variant::sinks)
      for (int h = 0; h < Hq; ++h) sinks[h] = Variant::sink_logit(w.sinks.data, h);

    const std::int64_t chunk = keys_per_item;
    const bool split_items = T <= split_tokens;
    // item_first[t]: the first part of token t, counted over the call.
    std::vector<std::int64_t>& item_first = Workspace::buffer_vector(ws.item_first, T + 1);
    item_first[0] = 0;
    std::int64_t most_parts = 1;  // of one token of this call
    for (std::int64_t t = 0; t < T; ++t) {
      const KeyRange keys = visible_keys<Variant>(ws.position[t], win);
      item_first[t + 1] = item_first[t] + (keys.last - keys.first) / chunk + 1;
      most_parts = std::max(most_parts, item_first[t + 1] - item_first[t]);
    }
    const std::int64_t parts_total = item_first[T], items = split_items ? parts_total : T;
    const std::size_t state_floats = std::size_t(Hq) * (D + 2);  // a head's acc, max and sum
    const std::int64_t max_parts = (c.max_context() + keys_per_item - 1) / keys_per_item;
    // Sized for the longest context by the first decoding call, so that decoding does not allocate
    // as the context grows.
    float* partial = split_items ? ws.buffer(ws.partial, split_tokens * max_parts * std::int64_t(state_floats)) : nullptr;
    const std::size_t ta_floats = TokenAttention::scratch_floats(Hkv, group, D);
    const std::size_t gather_floats = 2 * std::size_t(key_block) * D;

    ws.pool.parallel_for(items, [&](std::int64_t begin, std::int64_t end, int worker) {
      float* mine = ws.scratch.get(worker, ta_floats + gather_floats + (split_items ? 0 : most_parts * state_floats));
      TokenAttention ta{Hkv, group, D, mine};
      float* k_gather = mine + ta_floats;
      float* v_gather = k_gather + std::size_t(key_block) * D;
      float* states = v_gather + std::size_t(key_block) * D;  // a long call's parts of one token
      // Part `part` of token t's keys: its state saved at `state`, or with only one part, the
      // outputs written.
      auto run_part = [&](std::int64_t t, std::int64_t part, std::int64_t parts, float* state) {
        const Segment& seg = segments[ws.segment_of[t]];
        const std::int64_t pos = ws.position[t], start = seg.cache->length();
        const KeyRange visible = visible_keys<Variant>(pos, win);
        const std::int64_t first = visible.first + part * chunk;
        const std::int64_t last = visible.last - first < chunk ? visible.last : first + chunk - 1;
        // Keys of this call's tokens are read from k_heads and v_heads; earlier ones from the cache.
        auto row = [&](bool is_key, int g, std::int64_t j) -> const float* {
          if (j >= start) return (is_key ? k_heads : v_heads) + (g * T + seg.offset + j - start) * D;
          return is_key ? seg.cache->key(layer, g, j) : seg.cache->value(layer, g, j);
        };
        ta.start(Variant::sinks && part == 0 ? sinks.data() : nullptr);
        for (int g = 0; g < Hkv; ++g)
          for (std::int64_t j = first; j <= last;) {
            // The keys up to the next multiple of key_block; where they are not one run in memory
            // (the cache's ring wraps, or the call's own keys begin), copied into one.
            const int n = int(std::min(last + 1, (j / key_block + 1) * key_block) - j);
            const float* kj = row(true, g, j);
            const float* vj = row(false, g, j);
            bool contiguous = true;
            for (int i = 1; i < n && contiguous; ++i) contiguous = row(true, g, j + i) == kj + i * D;
            if (!contiguous) {
              for (int i = 0; i < n; ++i) {
                std::memcpy(k_gather + i * D, row(true, g, j + i), sizeof(float) * D);
                std::memcpy(v_gather + i * D, row(false, g, j + i), sizeof(float) * D);
              }
              kj = k_gather, vj = v_gather;
            }
            ta.add(kern, g, q + t * Q, kj, vj, n, scale);
            j += n;
          }
        if (parts == 1)
          ta.finish(o + t * Q);
        else
          ta.save(state);
      };
      for (std::int64_t i = begin; i < end; ++i) {
        // Items alternate between the two ends of the batch, so that each range the pool hands
        // out holds as many short causal rows as long ones.
        const std::int64_t item = i % 2 == 0 ? i / 2 : items - 1 - i / 2;
        if (split_items) {
          const std::int64_t t =
              std::upper_bound(item_first.begin(), item_first.begin() + T + 1, item) - item_first.begin() - 1;
          run_part(t, item - item_first[t], item_first[t + 1] - item_first[t], partial + item * state_floats);
        } else {
          const std::int64_t parts = item_first[item + 1] - item_first[item];
          for (std::int64_t p = 0; p < parts; ++p) run_part(item, p, parts, states + p * state_floats);
          if (parts > 1) merge_partial_states(states, parts, Hq, D, o + item * Q);
        }
      }
    });
    if (split_items && parts_total > T)
      ws.pool.parallel_for(T, [&](std::int64_t begin, std::int64_t end, int) {
        for (std::int64_t t = begin; t < end; ++t)
          if (item_first[t + 1] - item_first[t] > 1)
            merge_partial_states(partial + item_first[t] * state_floats, item_first[t + 1] - item_first[t], Hq, D,
                                 o + t * Q);
      });
    ws.trace("attn_heads", layer, o, T, Q);

    // Only now may the cache take this call's keys: a ring slot may hold a key still needed above.
    for (const Segment& seg : segments)
      for (std::int64_t i = 0; i < seg.length; ++i) {
        const std::int64_t pos = seg.cache->length() + i;
        for (int g = 0; g < Hkv; ++g) {
          std::memcpy(seg.cache->key(layer, g, pos), k + (seg.offset + i) * KV + g * D, sizeof(float) * D);
          std::memcpy(seg.cache->value(layer, g, pos), v + (seg.offset + i) * KV + g * D, sizeof(float) * D);
        }
      }

    matmul(Bf16Rows{w.out}, &w.out_bias, o, Q, int(T), out, H, ws.pool, ws.scratch, ws.kernels);
  }
};

}  // namespace gptoss::ops
