// Products of many tokens at once (prefill): a block of threads multiplies a tile of 128 weight
// rows by a tile of 64 inputs, 32 columns at a time through shared memory, so each weight is read
// from memory once per 64 inputs instead of once per input. The same kernel serves the bf16 linear
// layers (the inputs are the chunk's tokens) and the MXFP4 experts (the inputs of expert e are the
// token-rank pairs routed to it, grouped by group_by_expert in kernels.cuh). Everything is float32
// on the CUDA cores: the weights are widened or decoded exactly and each output is one fused
// multiply-add chain in column order, so the results stay within the host's float32 tolerances.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include <cuda_fp16.h>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/math.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/core/tensor.hpp"

namespace gptoss::gpu::detail {

// The eight E2M1 codes of one 32-bit word (element i in nibble i) as floats times 2^-14, by integer
// operations alone: two codes at a time become a pair of half-precision numbers, the sign to bit 15
// and the three magnitude bits to bits 11-9, where they read as the value times 2^-14 (code 1, the
// subnormal 0.5, included: half precision keeps subnormals). Scaling by 2^14 and the block's E8M0
// scale, both powers of two, is exact.
__device__ __forceinline__ void e2m1_word_times_2m14(std::uint32_t word, float (&v)[8]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {  // nibbles i and i + 4 in one shift
    const std::uint32_t n = word >> (4 * i);
    const std::uint32_t bits = (n & 0x00070007u) << 9 | (n & 0x00080008u) << 12;
    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&bits));
    v[i] = f.x, v[i + 4] = f.y;
  }
}

// Eight bf16 values packed in 16 bytes as floats (exact): in each 32-bit word the low half is the
// even element and the high half the odd one.
__device__ __forceinline__ void widen_bf16x8(uint4 packed, float (&v)[8]) {
  const std::uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    v[2 * k] = float_from_bits(words[k] << 16);
    v[2 * k + 1] = float_from_bits(words[k] & 0xffff0000u);
  }
}

inline constexpr int tile_rows = 128;    // weight rows per block
inline constexpr int tile_inputs = 64;   // inputs (tokens or token-rank pairs) per block
inline constexpr int tile_depth = 32;    // columns per step: one MXFP4 block of each row
inline constexpr int tile_threads = 256; // each computes 8 rows x 4 inputs
inline constexpr int tile_fetch = tile_rows * tile_depth / tile_threads;  // weights each thread loads per step
static_assert(tile_fetch == 16 && tile_inputs * tile_depth / tile_threads == 8);
static_assert((tile_rows / 8) * (tile_inputs / 4) == tile_threads);

// Where the token-rank pairs of each expert are: pairs[start[e] .. start[e] + count[e]) (device).
struct ExpertGroups {
  int* count;
  int* start;
  int* pairs;
};

// ---- weight sources: 16 consecutive columns of one row as float32 ---------------------------------
struct Bf16Source {  // needs cols % 8 == 0 and a 16-byte aligned matrix
  Bf16Matrix w;
  __device__ void fetch(int, int r, int c, float (&v)[tile_fetch]) const {
    const uint4* p = reinterpret_cast<const uint4*>(w.row(r) + c);
    float lo[8], hi[8];
    widen_bf16x8(p[0], lo);
    widen_bf16x8(p[1], hi);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = lo[i], v[8 + i] = hi[i];
  }
};

struct Mxfp4Source {  // expert `group` of the stack
  Mxfp4Experts w;
  __device__ void fetch(int group, int r, int c, float (&v)[tile_fetch]) const {
    const Mxfp4Matrix m = w.expert(group);
    const uint2 packed = *reinterpret_cast<const uint2*>(m.row_blocks(r) + c / 2);
    const float scale = mxfp4::e8m0_value(m.row_scales(r)[c / mxfp4::block_elems]);
    float lo[8], hi[8];
    e2m1_word_times_2m14(packed.x, lo);
    e2m1_word_times_2m14(packed.y, hi);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = lo[i] * 0x1p14f * scale, v[8 + i] = hi[i] * 0x1p14f * scale;
  }
};

// ---- inputs: which rows of x the m-th input of a group is -------------------------------------------
struct TokenInputs {  // the chunk's tokens, for every group (there is one)
  const float* x;
  std::int64_t stride;
  int tokens;
  __device__ int count(int) const { return tokens; }
  __device__ int id(int, int m) const { return m; }
  __device__ const float* row(int id) const { return x + id * stride; }
};

struct ExpertInputs {  // the pairs routed to expert `group`; pair p reads row p / per_row of x
  const float* x;
  std::int64_t stride;
  int per_row;  // experts_per_token when x holds one row per token, 1 when one per pair
  ExpertGroups groups;
  __device__ int count(int e) const { return groups.count[e]; }
  __device__ int id(int e, int m) const { return groups.pairs[groups.start[e] + m]; }
  __device__ const float* row(int p) const { return x + std::int64_t(p / per_row) * stride; }
};

// ---- outputs: rows r and r + 1 (r even) of input `id` ------------------------------------------------
struct LinearOutput {  // y[t, r] = W[r] . x[t] + bias[r], or y[t, r] += that
  float* y;
  std::int64_t stride;
  const bf16* bias;
  int rows;
  bool accumulate;
  __device__ void put(int r, int t, float dot) const {
    const float v = dot + (bias ? to_float(bias[r]) : 0.0f);
    float& out = y[t * stride + r];
    out = accumulate ? out + v : v;
  }
  __device__ void store2(int, int r, int t, float d0, float d1) const {
    put(r, t, d0);
    if (r + 1 < rows) put(r + 1, t, d1);
  }
};

struct SwigluOutput {  // MLP1: rows 2j and 2j + 1 are unit j's gate and linear input (spec 3.4)
  float* act;
  int units;
  Bf16Matrix bias;
  float limit;
  __device__ void store2(int e, int r, int p, float gate, float linear) const {
    const bf16* b = bias.row(e);
    act[std::int64_t(p) * units + r / 2] = math::swiglu(gate + to_float(b[r]), linear + to_float(b[r + 1]), limit);
  }
};

struct ExpertOutput {  // MLP2: y[p, r] = W2[e][r] . act[p] + b2[e][r], combined later
  float* y;
  int rows;
  Bf16Matrix bias;
  __device__ void store2(int e, int r, int p, float d0, float d1) const {
    const bf16* b = bias.row(e);
    y[std::int64_t(p) * rows + r] = d0 + to_float(b[r]);
    if (r + 1 < rows) y[std::int64_t(p) * rows + r + 1] = d1 + to_float(b[r + 1]);
  }
};

// Block (x, y, z): weight rows from x * tile_rows, group y, the group's inputs from z * tile_inputs.
// cols must be a multiple of tile_depth. Each step every thread loads 16 weights of one row and 8
// columns of one input into shared memory (the next step's loads are issued before this step's
// products), then computes 8 rows x 4 inputs from there: rows tx*4 .. +3 and 64 + tx*4 .. +3, so
// that a warp's loads of a row group are 16 distinct float4s.
template <class Weights, class Inputs, class Output>
__global__ void __launch_bounds__(tile_threads) tiled_matmul_kernel(Weights w, Inputs in, Output out, int rows, int cols) {
  __shared__ __align__(16) float ws[tile_depth][tile_rows];
  __shared__ __align__(16) float xs[tile_depth][tile_inputs];
  const int group = blockIdx.y, n = in.count(group), m0 = blockIdx.z * tile_inputs;
  if (m0 >= n) return;
  const int r0 = blockIdx.x * tile_rows, tid = threadIdx.x;

  const int lr = tid % tile_rows, lc = (tid / tile_rows) * tile_fetch;  // this thread's weight loads
  const int lm = tid % tile_inputs, lk = (tid / tile_inputs) * 8;      // and input loads
  const bool load_w = r0 + lr < rows;
  const float* xrow = m0 + lm < n ? in.row(in.id(group, m0 + lm)) : nullptr;
  float wv[tile_fetch];
  float4 xa, xb;
  auto fetch = [&](int k0) {
    if (load_w) w.fetch(group, r0 + lr, k0 + lc, wv);
    else
      for (float& v : wv) v = 0.0f;
    if (xrow) {
      xa = *reinterpret_cast<const float4*>(xrow + k0 + lk);
      xb = *reinterpret_cast<const float4*>(xrow + k0 + lk + 4);
    } else {
      xa = xb = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
  };

  const int tx = tid % 16, ty = tid / 16;
  float acc[8][4] = {};
  fetch(0);
  for (int k0 = 0; k0 < cols; k0 += tile_depth) {
#pragma unroll
    for (int i = 0; i < tile_fetch; ++i) ws[lc + i][lr] = wv[i];
    const float xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) xs[lk + i][lm] = xv[i];
    __syncthreads();
    if (k0 + tile_depth < cols) fetch(k0 + tile_depth);
#pragma unroll
    for (int k = 0; k < tile_depth; ++k) {
      const float4 a0 = *reinterpret_cast<const float4*>(&ws[k][tx * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&ws[k][tile_rows / 2 + tx * 4]);
      const float4 b = *reinterpret_cast<const float4*>(&xs[k][ty * 4]);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w}, x[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], x[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int m = m0 + ty * 4 + j;
    if (m >= n) break;
    const int id = in.id(group, m);
#pragma unroll
    for (int i = 0; i < 8; i += 2) {
      const int r = r0 + (i < 4 ? 0 : tile_rows / 2) + tx * 4 + i % 4;
      if (r < rows) out.store2(group, r, id, acc[i][j], acc[i + 1][j]);
    }
  }
}

// groups x ceil(max_inputs / tile_inputs) tiles of inputs per row tile; blocks past a group's
// count return at once.
template <class Weights, class Inputs, class Output>
void tiled_matmul(const Weights& w, const Inputs& in, const Output& out, int rows, int cols, int groups,
                  std::int64_t max_inputs, cudaStream_t s) {
  const dim3 grid(unsigned((rows + tile_rows - 1) / tile_rows), unsigned(groups),
                  unsigned((max_inputs + tile_inputs - 1) / tile_inputs));
  tiled_matmul_kernel<<<grid, tile_threads, 0, s>>>(w, in, out, rows, cols);
}

}  // namespace gptoss::gpu::detail
