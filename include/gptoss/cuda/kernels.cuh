// The CUDA kernels of gpt-oss and their launchers. Every kernel mirrors a host operation and calls
// the same GPTOSS_HD math (core/math.hpp, core/mxfp4.hpp, core/bf16.hpp); activations and the KV
// cache are float32 as on the host, weights stay in their stored bf16 / MXFP4 form.
//
// Shape of the work (decode first): products are one warp per output row, streaming the weight
// row with 16-byte loads and reducing with shuffles, for a tile of up to 8 tokens at once; MXFP4
// blocks (16 bytes + one scale byte) are decoded in registers. Launchers take a stream and never
// allocate or synchronize, so a decode step can be captured in a CUDA graph. Kernels are templates
// (`template <int = 0>`) so that a program whose several files include this header links one copy.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include <cuda_fp16.h>

#include <cub/block/block_reduce.cuh>

#include "gptoss/core/attention_variant.hpp"
#include "gptoss/core/bf16.hpp"
#include "gptoss/core/math.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/core/tensor.hpp"
#include "gptoss/core/token.hpp"
#include "gptoss/cuda/error.cuh"
#include "gptoss/cuda/kv_cache.cuh"
#include "gptoss/cuda/detail/tiled_matmul.cuh"

namespace gptoss::gpu {

inline constexpr int warp_size = 32;
inline constexpr int gemv_warps = 8;          // output rows per block of a product kernel
inline constexpr int gemv_tokens = 8;         // tokens sharing one pass over a weight row
inline constexpr int gemv_unroll = 4;         // 16-byte loads per lane in flight in a bf16 row
inline constexpr int tiled_min_tokens = 64;   // from here bf16 products run as tiles (tiled_matmul.cuh)
inline constexpr int mxfp4_unroll = 3;        // MXFP4 blocks per lane in flight: a 2880-wide row in one pass
inline constexpr int max_experts_per_token = 32;  // a warp per rank in the MLP2 kernel's blocks
inline constexpr int attention_warps = 4;     // warps per block of the attention kernel
inline constexpr int attention_group_heads = 8;  // query heads sharing one warp's reads of keys and values
inline constexpr int attention_max_dim = 256; // head_dim limit: 8 values per lane
inline constexpr int attention_keys_per_split = 16;   // decode: many short splits keep the GPU busy
inline constexpr int attention_keys_in_flight = 4;    // keys each warp loads before using them

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = warp_size / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

inline unsigned blocks_for(std::int64_t n, int per_block) { return unsigned((n + per_block - 1) / per_block); }

// ---- embedding -----------------------------------------------------------------------------------
// x[t] = widen(table[tokens[t]]); the ids were checked on the host.
template <int = 0>
__global__ void embedding_kernel(const bf16* table, int H, const token_id* tokens, float* x) {
  const std::int64_t t = blockIdx.x;
  const bf16* row = table + std::int64_t(tokens[t]) * H;
  for (int i = threadIdx.x; i < H; i += blockDim.x) x[t * H + i] = to_float(row[i]);
}

inline void embedding(const bf16* table, int H, const token_id* tokens, std::int64_t T, float* x, cudaStream_t s) {
  if (T == 0) return;
  embedding_kernel<><<<unsigned(T), 256, 0, s>>>(table, H, tokens, x);
  GPTOSS_CUDA_LAUNCHED("embedding_kernel");
}

// ---- RMSNorm ---------------------------------------------------------------------------------------
// y[r] = x[src] * rms_inverse * gain, src = rows ? rows[r] : r (rows gathers the rows whose logits
// are wanted). The sum of squares is a CUB block reduction.
inline constexpr int rms_threads = 256;

template <int = 0>
__global__ void rms_norm_kernel(const float* x, const int* rows, const bf16* gain, int H, float* y) {
  using Reduce = cub::BlockReduce<float, rms_threads>;
  __shared__ typename Reduce::TempStorage temp;
  __shared__ float inv;
  const std::int64_t r = blockIdx.x, src = rows ? rows[r] : r;
  const float* xr = x + src * H;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < H; i += rms_threads) sum += xr[i] * xr[i];
  const float total = Reduce(temp).Sum(sum);
  if (threadIdx.x == 0) inv = math::rms_inverse(total, H);
  __syncthreads();
  for (int i = threadIdx.x; i < H; i += rms_threads) y[r * H + i] = xr[i] * inv * to_float(gain[i]);
}

inline void rms_norm(const float* x, const int* rows, std::int64_t n, const bf16* gain, int H, float* y, cudaStream_t s) {
  if (n == 0) return;
  rms_norm_kernel<><<<unsigned(n), rms_threads, 0, s>>>(x, rows, gain, H, y);
  GPTOSS_CUDA_LAUNCHED("rms_norm_kernel");
}

// ---- bf16 linear -----------------------------------------------------------------------------------
// y[t, r] = W[r] . x[t] + bias[r], or y[t, r] += (W[r] . x[t] + bias[r]) with Accumulate (the
// residual add of the host, same rounding: the product and bias first, then the add).
// Vec: cols % 8 == 0, so rows are 16-byte aligned and each lane loads 8 bf16 at a time. Tokens:
// the tokens sharing a pass over a row (1 for decode, which then needs far fewer registers).
template <bool Vec, bool Accumulate, int Tokens>
__global__ void linear_bf16_kernel(const bf16* W, const bf16* bias, int rows, int cols, const float* x,
                                   std::int64_t x_stride, int T, float* y, std::int64_t y_stride) {
  const int lane = threadIdx.x % warp_size;
  const int r = blockIdx.x * gemv_warps + threadIdx.x / warp_size;
  const int t0 = blockIdx.y * Tokens;
  if (r >= rows) return;
  const int nt = min(Tokens, T - t0);
  const bf16* w = W + std::int64_t(r) * cols;
  float acc[Tokens] = {};
  if constexpr (Vec) {
    // gemv_unroll 16-byte loads of the row per lane are issued before any is used; each lane still
    // adds its columns in increasing order.
    for (int c0 = lane * 8; c0 < cols; c0 += gemv_unroll * warp_size * 8) {
      uint4 packed[gemv_unroll];
#pragma unroll
      for (int u = 0; u < gemv_unroll; ++u)
        if (c0 + u * warp_size * 8 < cols) packed[u] = *reinterpret_cast<const uint4*>(w + c0 + u * warp_size * 8);
#pragma unroll
      for (int u = 0; u < gemv_unroll; ++u) {
        const int c = c0 + u * warp_size * 8;
        if (c >= cols) break;
        float wf[8];
        detail::widen_bf16x8(packed[u], wf);
#pragma unroll
        for (int i = 0; i < Tokens; ++i) {
          if (i < nt) {
            const float* xr = x + std::int64_t(t0 + i) * x_stride + c;
            const float4 a = *reinterpret_cast<const float4*>(xr);
            const float4 b = *reinterpret_cast<const float4*>(xr + 4);
            acc[i] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y +
                      wf[6] * b.z + wf[7] * b.w;
          }
        }
      }
    }
  } else {
    for (int c = lane; c < cols; c += warp_size) {
      const float wf = to_float(w[c]);
#pragma unroll
      for (int i = 0; i < Tokens; ++i)
        if (i < nt) acc[i] += wf * x[std::int64_t(t0 + i) * x_stride + c];
    }
  }
  const float b = bias ? to_float(bias[r]) : 0.0f;
#pragma unroll
  for (int i = 0; i < Tokens; ++i) {
    const float sum = warp_sum(acc[i]);
    if (lane == 0 && i < nt) {
      float& out = y[std::int64_t(t0 + i) * y_stride + r];
      if constexpr (Accumulate) out += sum + b;
      else out = sum + b;
    }
  }
}

// x and y are row-major with strides in floats; the vector path needs x_stride % 4 == 0 too. From
// tiled_min_tokens tokens on, when the columns are whole tiles, the product runs as tiles instead.
inline void linear_bf16(const Bf16Matrix& W, const bf16* bias, const float* x, std::int64_t x_stride, std::int64_t T,
                        float* y, std::int64_t y_stride, bool accumulate, cudaStream_t s) {
  if (T == 0) return;
  const bool vec = W.cols % 8 == 0 && x_stride % 4 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<std::uintptr_t>(W.data) % 16 == 0;
  if (vec && T >= tiled_min_tokens && W.cols % detail::tile_depth == 0) {
    using namespace detail;
    tiled_matmul(Bf16Source{W}, TokenInputs{x, x_stride, int(T)}, LinearOutput{y, y_stride, bias, W.rows, accumulate},
                 W.rows, W.cols, 1, T, s);
    GPTOSS_CUDA_LAUNCHED("tiled_matmul_kernel (bf16 linear)");
    return;
  }
  const dim3 grid(blocks_for(W.rows, gemv_warps), blocks_for(T, gemv_tokens));
  const int threads = gemv_warps * warp_size;
  using Kernel = void (*)(const bf16*, const bf16*, int, int, const float*, std::int64_t, int, float*, std::int64_t);
  const Kernel kernel = !vec       ? (accumulate ? linear_bf16_kernel<false, true, gemv_tokens> : linear_bf16_kernel<false, false, gemv_tokens>)
                        : T == 1   ? (accumulate ? linear_bf16_kernel<true, true, 1> : linear_bf16_kernel<true, false, 1>)
                                   : (accumulate ? linear_bf16_kernel<true, true, gemv_tokens> : linear_bf16_kernel<true, false, gemv_tokens>);
  kernel<<<grid, threads, 0, s>>>(W.data, bias, W.rows, W.cols, x, x_stride, int(T), y, y_stride);
  GPTOSS_CUDA_LAUNCHED("linear_bf16_kernel");
}

// ---- per-token metadata -------------------------------------------------------------------------
// Where a token of the batch sits: its absolute position, its sequence's length before this call
// (`start`) and after it (`end`), the batch row of position `start`, and the sequence's cache.
struct TokenMeta {
  std::int64_t position, start, end, offset;
  float* kv;
  std::int64_t capacity;
};

// ---- YaRN RoPE -------------------------------------------------------------------------------------
// One thread per (token, head, frequency pair): the angle and its concentration-scaled cos/sin come
// from math::rope_table_row and the rotation from math::rope_rotate, applied to that pair (element i
// and i + D/2) of one q or k head of the token, in place in the qkv rows (k heads follow the q heads).
template <int = 0>
__global__ void rope_kernel(float* qkv, int qkv_width, const TokenMeta* meta, int T, const float* inv_freq,
                            math::Yarn yarn, int heads) {
  const int half = yarn.head_dim / 2;
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= std::int64_t(T) * heads * half) return;
  const std::int64_t t = idx / (std::int64_t(heads) * half);
  const int h = int(idx / half % heads), i = int(idx % half);
  math::Yarn pair_yarn = yarn;
  pair_yarn.head_dim = 2;  // one pair: rope_table_row then reads inv_freq[i] alone
  float cs[2];
  math::rope_table_row(pair_yarn, inv_freq + i, int(meta[t].position), cs);
  float* head = qkv + t * qkv_width + std::int64_t(h) * yarn.head_dim;
  float z[2] = {head[i], head[i + half]};
  math::rope_rotate(z, cs, 2);
  head[i] = z[0];
  head[i + half] = z[1];
}

inline void rope(float* qkv, int qkv_width, const TokenMeta* meta, std::int64_t T, const float* inv_freq,
                 const math::Yarn& yarn, int q_heads, int kv_heads, cudaStream_t s) {
  if (T == 0) return;
  const int heads = q_heads + kv_heads;
  rope_kernel<><<<blocks_for(T * heads * (yarn.head_dim / 2), 128), 128, 0, s>>>(qkv, qkv_width, meta, int(T), inv_freq,
                                                                                yarn, heads);
  GPTOSS_CUDA_LAUNCHED("rope_kernel");
}

// ---- attention -------------------------------------------------------------------------------------
struct AttentionArgs {
  const float* qkv;   // [T, qkv_width]: q heads, k heads, v heads (after RoPE)
  int qkv_width, q_width, kv_width, head_dim, q_heads, group;
  int layer;
  int window;         // visible keys including the query's own: read only by the runtime-window variant
  float scale;        // 1 / sqrt(head_dim)
  KvLayout kv;
  const TokenMeta* meta;
  int splits, keys_per_split;
  float* partial;     // [T, q_heads, splits, head_dim + 2]: unnormalised o, then max and sum
};

// Split-K flash decoding: a warp per (token, key/value head, split of the visible keys) runs the
// online softmax (math::SinkSoftmax without a sink) of up to Heads query heads that share those keys
// (grouped-query attention), so each key and value is read once for all of them; lane d holds dims
// d, d + 32, ... (PerLane of them). Keys of this call's tokens are read from qkv, earlier ones from
// the cache, as on the host. The first visible key is the variant's (core/attention_variant.hpp):
// a full-attention layer compiles no window logic.
template <class Variant, int PerLane, int Heads>
__global__ void attention_partial_kernel(AttentionArgs a) {
  const int lane = threadIdx.x % warp_size;
  const int chunks = (a.group + Heads - 1) / Heads;  // warps per key/value head
  const int w = blockIdx.x * attention_warps + threadIdx.x / warp_size;
  if (w >= (a.q_heads / a.group) * chunks) return;
  const int gh = w / chunks, h0 = gh * a.group + (w % chunks) * Heads;
  const int nh = min(Heads, a.group - (w % chunks) * Heads);  // query heads h0 .. h0 + nh - 1
  const std::int64_t t = blockIdx.y;
  const int split = blockIdx.z;
  const TokenMeta m = a.meta[t];
  const int D = a.head_dim;
  const std::int64_t first = Variant::first_key(m.position, a.window);
  const std::int64_t j0 = first + std::int64_t(split) * a.keys_per_split;
  const std::int64_t j1 = min(m.position + 1, j0 + a.keys_per_split);

  float q[Heads][PerLane], o[Heads][PerLane];
  math::SinkSoftmax sm[Heads];
#pragma unroll
  for (int g = 0; g < Heads; ++g) {
    const float* qh = a.qkv + t * a.qkv_width + std::int64_t(h0 + min(g, nh - 1)) * D;
#pragma unroll
    for (int i = 0; i < PerLane; ++i) {
      const int d = lane + warp_size * i;
      q[g][i] = d < D ? qh[d] : 0.0f;
      o[g][i] = 0.0f;
    }
    sm[g] = {-INFINITY, 0.0f};
  }
  for (std::int64_t jg = j0; jg < j1; jg += attention_keys_in_flight) {
    // The keys and values of attention_keys_in_flight positions are loaded before any is used
    // (past j1 the last key is loaded again and not used); they then enter the softmax in order.
    float k[attention_keys_in_flight][PerLane], v[attention_keys_in_flight][PerLane];
#pragma unroll
    for (int c = 0; c < attention_keys_in_flight; ++c) {
      const std::int64_t j = min(jg + c, j1 - 1);
      const float *kp, *vp;
      if (j >= m.start) {
        const float* row = a.qkv + (m.offset + j - m.start) * a.qkv_width;
        kp = row + a.q_width + std::int64_t(gh) * D;
        vp = row + a.q_width + a.kv_width + std::int64_t(gh) * D;
      } else {
        kp = a.kv.key(m.kv, a.layer, j, m.capacity) + std::int64_t(gh) * D;
        vp = a.kv.value(m.kv, a.layer, j, m.capacity) + std::int64_t(gh) * D;
      }
#pragma unroll
      for (int i = 0; i < PerLane; ++i) {
        const int d = lane + warp_size * i;
        k[c][i] = d < D ? kp[d] : 0.0f;
        v[c][i] = d < D ? vp[d] : 0.0f;
      }
    }
#pragma unroll
    for (int g = 0; g < Heads; ++g) {
      if (g >= nh) break;
      float logit[attention_keys_in_flight];
#pragma unroll
      for (int c = 0; c < attention_keys_in_flight; ++c) {
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < PerLane; ++i) dot += q[g][i] * k[c][i];
        logit[c] = warp_sum(dot) * a.scale;
      }
#pragma unroll
      for (int c = 0; c < attention_keys_in_flight; ++c) {
        if (jg + c >= j1) break;
        float weight;
        const float rescale = sm[g].add(logit[c], weight);
#pragma unroll
        for (int i = 0; i < PerLane; ++i) o[g][i] = o[g][i] * rescale + weight * v[c][i];
      }
    }
  }
#pragma unroll
  for (int g = 0; g < Heads; ++g) {
    if (g >= nh) break;
    float* out = a.partial + ((t * a.q_heads + h0 + g) * a.splits + split) * (D + 2);
#pragma unroll
    for (int i = 0; i < PerLane; ++i) {
      const int d = lane + warp_size * i;
      if (d < D) out[d] = o[g][i];
    }
    if (lane == 0) out[D] = sm[g].max, out[D + 1] = sm[g].sum;
  }
}

// Merges the splits of one (token, head) with math::SoftmaxMerge (the host's merge_partial_states
// runs it too), a thread per dim, and folds in the variant's sink: the sink logit only enlarges the
// denominator (spec 3.3). A variant without sinks reads none (`sinks` may be null).
template <class Variant>
__global__ void attention_combine_kernel(const float* partial, int q_heads, int splits, int D, const bf16* sinks,
                                                float* o, int o_width) {
  const int h = blockIdx.x;
  const std::int64_t t = blockIdx.y;
  const math::PartialStates states{partial + (t * q_heads + h) * splits * (D + 2), D + 2, splits, D};
  const math::SoftmaxMerge merge = math::SoftmaxMerge::of(states, Variant::sink_logit(sinks, h));
  for (int d = threadIdx.x; d < D; d += blockDim.x) o[t * o_width + std::int64_t(h) * D + d] = merge.value(states, d);
}

// How many splits the keys of the longest visible range are cut into: enough to fill the device
// at long context, bounded by the partial buffer (partial_slots entries of head_dim + 2 floats).
inline int attention_splits(std::int64_t max_keys, std::int64_t T, int q_heads, std::int64_t partial_slots) {
  std::int64_t splits = (max_keys + attention_keys_per_split - 1) / attention_keys_per_split;
  const std::int64_t room = partial_slots / (T * q_heads);
  if (splits > room) splits = room;
  return int(splits < 1 ? 1 : splits);
}

// The attention of one layer under `Variant` (core/attention_variant.hpp): args.window is read only
// by the runtime-window variant, `sinks` only by a variant with sinks.
template <class Variant>
void attention(const AttentionArgs& args, std::int64_t T, std::int64_t max_keys, const bf16* sinks, float* o,
               cudaStream_t s) {
  if (T == 0) return;
  AttentionArgs a = args;
  a.keys_per_split = int((max_keys + a.splits - 1) / a.splits);
  // Up to attention_group_heads query heads per warp; head dimensions up to 64 keep 2 values per lane.
  const int warps = (a.q_heads / a.group) * ((a.group + attention_group_heads - 1) / attention_group_heads);
  const dim3 grid(blocks_for(warps, attention_warps), unsigned(T), unsigned(a.splits));
  if (a.head_dim <= 2 * warp_size)
    attention_partial_kernel<Variant, 2, attention_group_heads><<<grid, attention_warps * warp_size, 0, s>>>(a);
  else
    attention_partial_kernel<Variant, attention_max_dim / warp_size, attention_group_heads>
        <<<grid, attention_warps * warp_size, 0, s>>>(a);
  GPTOSS_CUDA_LAUNCHED("attention_partial_kernel");
  attention_combine_kernel<Variant><<<dim3(unsigned(a.q_heads), unsigned(T)), 64, 0, s>>>(
      a.partial, a.q_heads, a.splits, a.head_dim, sinks, o, a.q_width);
  GPTOSS_CUDA_LAUNCHED("attention_combine_kernel");
}

// Stores this call's keys and values in the cache, after the attention has read the old ones (a
// ring slot may hold a key still needed). When a sequence brings more tokens than its ring has
// slots, only the last `slots` positions are written, so no two tokens race for one slot.
template <int = 0>
__global__ void kv_store_kernel(const float* qkv, int qkv_width, int q_width, int kv_width, KvLayout kv, int layer,
                                       const TokenMeta* meta) {
  const std::int64_t t = blockIdx.x;
  const TokenMeta m = meta[t];
  if (m.position < m.end - kv.slots(layer, m.capacity)) return;
  float* k = kv.key(m.kv, layer, m.position, m.capacity);
  float* v = kv.value(m.kv, layer, m.position, m.capacity);
  const float* row = qkv + t * qkv_width + q_width;
  for (int i = threadIdx.x; i < kv_width; i += blockDim.x) {
    k[i] = row[i];
    v[i] = row[kv_width + i];
  }
}

inline void kv_store(const float* qkv, int qkv_width, int q_width, int kv_width, const KvLayout& kv, int layer,
                     const TokenMeta* meta, std::int64_t T, cudaStream_t s) {
  if (T == 0) return;
  kv_store_kernel<><<<unsigned(T), 128, 0, s>>>(qkv, qkv_width, q_width, kv_width, kv, layer, meta);
  GPTOSS_CUDA_LAUNCHED("kv_store_kernel");
}

// ---- MoE -------------------------------------------------------------------------------------------
// Top-k routing of each token by math::route_top_k itself (lower expert index first among equal
// logits, softmax over the chosen logits only): the identical choice to the host's.
template <int = 0>
__global__ void route_kernel(const float* logits, int T, int E, int K, int* chosen, float* weights) {
  const std::int64_t t = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= T) return;
  math::route_top_k(logits + t * E, E, K, chosen + t * K, weights + t * K);
}

inline void route(const float* logits, std::int64_t T, int E, int K, int* chosen, float* weights, cudaStream_t s) {
  if (T == 0) return;
  route_kernel<><<<blocks_for(T, 64), 64, 0, s>>>(logits, int(T), E, K, chosen, weights);
  GPTOSS_CUDA_LAUNCHED("route_kernel");
}

// The products of one 32-bit word of an MXFP4 block (8 E2M1 codes, element i in nibble i) with
// the 8 floats of x it multiplies, summed in element order, in units of 2^-14 (the block's sum is
// scaled once, by 2^14 and its E8M0 scale).
__device__ __forceinline__ float mxfp4_word_dot(std::uint32_t word, float4 xa, float4 xb) {
  float v[8];
  detail::e2m1_word_times_2m14(word, v);
  return v[0] * xa.x + v[1] * xa.y + v[2] * xa.z + v[3] * xa.w + v[4] * xb.x + v[5] * xb.y + v[6] * xb.z +
         v[7] * xb.w;
}

// The dot products of R rows of one MXFP4 matrix with one input x (w.cols floats, a multiple of
// 32), for one warp. Lane b takes blocks b, b + 32, ... of every row, and the 16-byte loads of
// mxfp4_unroll such blocks of all R rows are in flight together. Each 8 floats of x are read once
// for all R rows: x takes 8 times the bytes of the MXFP4 weights it multiplies, so reading it again
// for every row would make the L1 reads, not the weights, the limit. Each row's sum is still
// formed word by word within a block, block by block in order, then reduced across the warp.
template <int R>
__device__ __forceinline__ void mxfp4_rows_dot(const Mxfp4Matrix& w, const int (&rows)[R], const float* x, int lane,
                                               float (&out)[R]) {
  const int nb = w.cols / mxfp4::block_elems;
  float acc[R] = {};
  for (int b0 = lane; b0 < nb; b0 += mxfp4_unroll * warp_size) {
    uint4 packed[mxfp4_unroll][R];
    std::uint8_t scale[mxfp4_unroll][R];
#pragma unroll
    for (int u = 0; u < mxfp4_unroll; ++u)
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int b = b0 + u * warp_size;
        if (b < nb) {
          packed[u][r] = reinterpret_cast<const uint4*>(w.row_blocks(rows[r]))[b];
          scale[u][r] = w.row_scales(rows[r])[b];
        }
      }
#pragma unroll
    for (int u = 0; u < mxfp4_unroll; ++u) {
      const int b = b0 + u * warp_size;
      if (b >= nb) continue;
      const float* xb = x + b * mxfp4::block_elems;
      float block[R] = {};
#pragma unroll
      for (int k = 0; k < 4; ++k) {  // word k holds elements 8k..8k+7
        const float4 lo = *reinterpret_cast<const float4*>(xb + 8 * k);
        const float4 hi = *reinterpret_cast<const float4*>(xb + 8 * k + 4);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const std::uint32_t words[4] = {packed[u][r].x, packed[u][r].y, packed[u][r].z, packed[u][r].w};
          block[r] += mxfp4_word_dot(words[k], lo, hi);
        }
      }
#pragma unroll
      for (int r = 0; r < R; ++r) acc[r] += block[r] * 0x1p14f * mxfp4::e8m0_value(scale[u][r]);
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) out[r] = warp_sum(acc[r]);
}

// MLP1 and the clamped SwiGLU, fused: a warp per mlp1_units consecutive intermediate units j and a
// token-rank pair p computes the gate rows 2j and the linear rows 2j + 1 of expert chosen[p]
// (interleaved, spec 3.4), 2 * mlp1_units rows sharing each read of x, adds the biases and writes
// act[p, j] = swiglu(gate, linear).
inline constexpr int mlp1_units = 2;

template <int = 0>
__global__ void expert_mlp1_kernel(const float* x, int H, int I, const int* chosen, int K, int E,
                                   Mxfp4Experts w1, Bf16Matrix b1, float limit, float* act) {
  const int lane = threadIdx.x % warp_size;
  const int j0 = (blockIdx.x * gemv_warps + threadIdx.x / warp_size) * mlp1_units;
  const std::int64_t p = blockIdx.y;
  if (j0 >= I) return;
  const int e = chosen[p];
  if (e < 0 || e >= E) {  // cannot happen with finite logits; make it visible rather than fault
    if (lane == 0)
      for (int u = 0; u < mlp1_units && j0 + u < I; ++u) act[p * I + j0 + u] = NAN;
    return;
  }
  int rows[2 * mlp1_units];
#pragma unroll
  for (int u = 0; u < mlp1_units; ++u) {
    const int j = min(j0 + u, I - 1);  // past the last unit, repeat it (and write nothing)
    rows[2 * u] = 2 * j, rows[2 * u + 1] = 2 * j + 1;
  }
  float dots[2 * mlp1_units];
  mxfp4_rows_dot<2 * mlp1_units>(w1.expert(e), rows, x + (p / K) * H, lane, dots);
  if (lane == 0) {
    const bf16* bias = b1.row(e);
#pragma unroll
    for (int u = 0; u < mlp1_units; ++u) {
      const int j = j0 + u;
      if (j < I)
        act[p * I + j] = math::swiglu(dots[2 * u] + to_float(bias[2 * j]), dots[2 * u + 1] + to_float(bias[2 * j + 1]),
                                      limit);
    }
  }
}

inline void expert_mlp1(const float* x, int H, int I, std::int64_t T, const int* chosen, int K, const Mxfp4Experts& w1,
                        const Bf16Matrix& b1, float limit, float* act, cudaStream_t s) {
  if (T == 0) return;
  const dim3 grid(blocks_for(I, gemv_warps * mlp1_units), unsigned(T * K));
  expert_mlp1_kernel<><<<grid, gemv_warps * warp_size, 0, s>>>(x, H, I, chosen, K, w1.experts, w1, b1, limit, act);
  GPTOSS_CUDA_LAUNCHED("expert_mlp1_kernel");
}

// MLP2, the weighted combine and the residual add, fused: a block per (mlp2_rows output rows from
// r, token t) with a warp per rank k computes W2[e_k][r + i] . act[t, k] + b2[e_k][r + i] for all
// its rows (their loads in flight together, each read of act shared by them); a thread per row
// then adds them with their routing weights in rank order, as the host does, and adds the sum to
// x[t, r + i].
inline constexpr int mlp2_rows = 4;

template <int = 0>
__global__ void expert_mlp2_kernel(const float* act, int H, int I, const int* chosen, const float* weights, int K,
                                   int E, Mxfp4Experts w2, Bf16Matrix b2, float* x) {
  __shared__ float y[mlp2_rows][max_experts_per_token];
  const int lane = threadIdx.x % warp_size, k = threadIdx.x / warp_size;
  const int r = blockIdx.x * mlp2_rows;
  const std::int64_t t = blockIdx.y, p = t * K + k;
  const int e = chosen[p];
  const bool valid = e >= 0 && e < E;  // always, with finite logits; otherwise NaN, not a fault
  if (valid) {
    int rows[mlp2_rows];
#pragma unroll
    for (int i = 0; i < mlp2_rows; ++i) rows[i] = min(r + i, H - 1);  // past the last row, repeat it
    float dot[mlp2_rows];
    mxfp4_rows_dot<mlp2_rows>(w2.expert(e), rows, act + p * I, lane, dot);
    if (lane == 0)
#pragma unroll
      for (int i = 0; i < mlp2_rows; ++i) y[i][k] = dot[i] + to_float(b2.row(e)[rows[i]]);
  } else if (lane == 0) {
#pragma unroll
    for (int i = 0; i < mlp2_rows; ++i) y[i][k] = NAN;
  }
  __syncthreads();
  if (threadIdx.x < mlp2_rows && r + int(threadIdx.x) < H) {
    float total = 0.0f;
    for (int j = 0; j < K; ++j) total += weights[t * K + j] * y[threadIdx.x][j];
    x[t * H + r + threadIdx.x] += total;
  }
}

inline void expert_mlp2(const float* act, int H, int I, std::int64_t T, const int* chosen, const float* weights, int K,
                        const Mxfp4Experts& w2, const Bf16Matrix& b2, float* x, cudaStream_t s) {
  if (T == 0) return;
  expert_mlp2_kernel<><<<dim3(blocks_for(H, mlp2_rows), unsigned(T)), K * warp_size, 0, s>>>(act, H, I, chosen, weights, K, w2.experts,
                                                                               w2, b2, x);
  GPTOSS_CUDA_LAUNCHED("expert_mlp2_kernel");
}

// ---- MoE for many tokens: the pairs grouped by expert, each expert's weights read once per tile ----
// Prefill sends tens of tokens to each expert; the per-pair kernels above would read an expert's
// rows once for each of them. From this many pairs per expert on average the grouped path is used.
inline constexpr int grouped_min_pairs_per_expert = 16;
inline bool experts_grouped(std::int64_t T, int K, int E) { return T * K >= std::int64_t(grouped_min_pairs_per_expert) * E; }

// One block: counts the pairs of each expert, lays the groups out in expert order, and lists each
// pair in its group (in no particular order within it: every output depends on its own pair only).
// Pairs with an expert index out of range join no group; expert_combine turns them into NaN.
template <int = 0>
__global__ void group_by_expert_kernel(const int* chosen, int pairs, int E, detail::ExpertGroups g) {
  extern __shared__ int cursor[];  // [E]
  for (int e = threadIdx.x; e < E; e += blockDim.x) cursor[e] = 0;
  __syncthreads();
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
    const int e = chosen[p];
    if (e >= 0 && e < E) atomicAdd(&cursor[e], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int start = 0;
    for (int e = 0; e < E; ++e) {
      g.start[e] = start, g.count[e] = cursor[e];
      const int n = cursor[e];
      cursor[e] = start;
      start += n;
    }
  }
  __syncthreads();
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
    const int e = chosen[p];
    if (e >= 0 && e < E) g.pairs[atomicAdd(&cursor[e], 1)] = p;
  }
}

// x[t, r] += sum over ranks k, in rank order, of weight[t, k] * y[t * K + k, r]: MLP2's outputs
// (bias included) combined and added to the residual as expert_mlp2_kernel does.
template <int = 0>
__global__ void expert_combine_kernel(const float* y, const int* chosen, const float* weights, int T, int K, int E, int H,
                                      float* x) {
  const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= std::int64_t(T) * H) return;
  const std::int64_t t = i / H, r = i % H;
  float total = 0.0f;
  for (int k = 0; k < K; ++k) {
    const std::int64_t p = t * K + k;
    const int e = chosen[p];
    total += weights[p] * (e >= 0 && e < E ? y[p * H + r] : NAN);
  }
  x[i] += total;
}

// The whole MoE MLP of T tokens after routing: act, y ([T * K, I] and [T * K, H]) and the groups
// ([E], [E], [T * K]) are scratch. Chooses the grouped path (experts_grouped) or the per-pair one.
struct ExpertArgs {
  const float* x_norm;  // [T, H]
  int H, I, E, K;
  const int* chosen;        // [T, K]
  const float* weights;     // [T, K]
  Mxfp4Experts w1, w2;
  Bf16Matrix b1, b2;
  float limit;
  float* act;
  float* y;
  detail::ExpertGroups groups;
};

inline void expert_mlp(const ExpertArgs& a, std::int64_t T, float* x, cudaStream_t s) {
  if (T == 0) return;
  if (!experts_grouped(T, a.K, a.E)) {
    expert_mlp1(a.x_norm, a.H, a.I, T, a.chosen, a.K, a.w1, a.b1, a.limit, a.act, s);
    expert_mlp2(a.act, a.H, a.I, T, a.chosen, a.weights, a.K, a.w2, a.b2, x, s);
    return;
  }
  // An expert gets at most T pairs (a token's K experts are distinct), so z = T / tile_inputs tiles.
  group_by_expert_kernel<><<<1, 1024, std::size_t(a.E) * sizeof(int), s>>>(a.chosen, int(T * a.K), a.E, a.groups);
  GPTOSS_CUDA_LAUNCHED("group_by_expert_kernel");
  using namespace detail;
  tiled_matmul(Mxfp4Source{a.w1}, ExpertInputs{a.x_norm, a.H, a.K, a.groups}, SwigluOutput{a.act, a.I, a.b1, a.limit},
               2 * a.I, a.H, a.E, T, s);
  GPTOSS_CUDA_LAUNCHED("tiled_matmul_kernel (MLP1)");
  tiled_matmul(Mxfp4Source{a.w2}, ExpertInputs{a.act, a.I, 1, a.groups}, ExpertOutput{a.y, a.H, a.b2}, a.H, a.I, a.E, T, s);
  GPTOSS_CUDA_LAUNCHED("tiled_matmul_kernel (MLP2)");
  expert_combine_kernel<><<<blocks_for(T * a.H, 256), 256, 0, s>>>(a.y, a.chosen, a.weights, int(T), a.K, a.E, a.H, x);
  GPTOSS_CUDA_LAUNCHED("expert_combine_kernel");
}

// ---- greedy sampling -------------------------------------------------------------------------------
// The index of the largest logit of each row, the lowest index among equal values (as the host's
// argmax); NaN never wins.
struct ArgBest {
  float value;
  int index;
};
struct ArgBestOp {  // NaN values never reach it: the kernel skips them
  __device__ ArgBest operator()(const ArgBest& a, const ArgBest& b) const {
    return a.value > b.value || (a.value == b.value && a.index < b.index) ? a : b;
  }
};

inline constexpr int argmax_threads = 256;

template <int = 0>
__global__ void argmax_kernel(const float* logits, int V, token_id* out) {
  using Reduce = cub::BlockReduce<ArgBest, argmax_threads>;
  __shared__ typename Reduce::TempStorage temp;
  const float* row = logits + std::int64_t(blockIdx.x) * V;
  ArgBest best{-INFINITY, V};
  const ArgBestOp op;
  for (int i = threadIdx.x; i < V; i += argmax_threads) {
    const float v = row[i];
    if (v == v) best = op(best, ArgBest{v, i});
  }
  const ArgBest all = Reduce(temp).Reduce(best, op);
  if (threadIdx.x == 0) out[blockIdx.x] = token_id(all.index < V ? all.index : 0);
}

inline void argmax(const float* logits, std::int64_t rows, int V, token_id* out, cudaStream_t s) {
  if (rows == 0) return;
  argmax_kernel<><<<unsigned(rows), argmax_threads, 0, s>>>(logits, V, out);
  GPTOSS_CUDA_LAUNCHED("argmax_kernel");
}

}  // namespace gptoss::gpu
