// The host kernels in portable C++: the reference that each SIMD version is tested against, and
// the fallback on CPUs without one. Every kernel here states the contract the others implement.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/mxfp4.hpp"

namespace gptoss::host::detail {

// The activation layout the MXFP4 products read: within each block of 32, the 16 even elements and
// then the 16 odd ones, matching the low and high nibbles of the block's 16 bytes.
inline void split_pairs(const float* x, int cols, float* xs) {
  for (int b = 0; b < cols; b += mxfp4::block_elems)
    for (int j = 0; j < mxfp4::block_elems / 2; ++j) {
      xs[b + j] = x[b + 2 * j];
      xs[b + 16 + j] = x[b + 2 * j + 1];
    }
}

// The vector exp of the attention kernels: x = k ln2 + r with k = round(x log2 e) and ln 2 split in
// two parts so that r is exact (the high part has 16 significant bits), e^r by its Taylor series
// to degree 7 (truncation < 1e-8 relative for |r| <= ln2/2), coefficients highest first.
inline constexpr float exp_log2e = 1.44269504f, exp_ln2_hi = 0.693145752f, exp_ln2_lo = 1.42860677e-6f;
inline constexpr float exp_taylor[8] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};

// The activations as the bf16 products read them, when a kernel takes them in their own order.
inline void copy_input(const float* x, int cols, float* out) { std::copy_n(x, cols, out); }

// Precision::bf16 on CPUs without a native bf16 product: the activations as Arrange lays them out,
// each rounded to bf16 (nearest even) and kept as a float, so that every float32 product of a
// kernel is the exact product of two bf16 values (the weights are bf16, or E2M1 values times a
// power of two) and only the accumulation rounds. Rounding commutes with any permutation.
template <auto Arrange>
void rounded_to_bf16(const float* x, int cols, float* out) {
  Arrange(x, cols, out);
  for (int i = 0; i < cols; ++i) out[i] = to_float(to_bf16(out[i]));
}

// Prefill tiles: up to tile_rows weight rows, over a range of columns, expanded to float32 once,
// then multiplied with every token of the call by gemm_rows. Each instruction set lays them out
// for its gemm_rows, as its Kernels table says: [rows][cols] with each row's values in order, or
// in the order its GEMV reads the activations of an MXFP4 row (split_pairs), or [cols][tile_rows].
enum class TileLayout { row_major, row_major_split, column_major };
inline constexpr int tile_rows = 32;
inline std::int64_t tile_offset(TileLayout layout, int cols, int r, int k) {
  switch (layout) {
    case TileLayout::row_major: return std::int64_t(r) * cols + k;
    case TileLayout::row_major_split: {
      const int b = k - k % mxfp4::block_elems, j = k % mxfp4::block_elems;
      return std::int64_t(r) * cols + b + (j % 2) * (mxfp4::block_elems / 2) + j / 2;
    }
    case TileLayout::column_major: break;
  }
  return std::int64_t(k) * tile_rows + r;
}

namespace scalar {

// Each GEMV reads its activations arranged for it, once per call, by the arrange function of its
// Kernels table (kernels.hpp): cols floats in an order of the kernel's choosing. Here, x as it is.
//
// Batch invariance: where an instruction set has a gemm_rows (kernels.hpp), the product of a row
// and a token is the same float whether gemv_* or expand_* and gemm_rows compute it: the same
// products summed in the same order into the same accumulators. Here, every sum runs over the
// columns in order, with the weights as decode_row gives them (MXFP4 values times their block's
// scale). The scalar kernels have no tiles: a sum written once in C++ may be compiled into fused
// multiply-adds in one loop and not in another (GCC with -march=native fuses the GEMV's and
// vectorizes a tile's products unfused), so only the GEMV itself gives every token the same floats.

// y[r] = sum_k w[r, k] x[k] for r in [0, rows); w row-major [rows, cols].
inline void gemv_bf16(const bf16* w, std::int64_t rows, int cols, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float acc = 0.0f;
    for (int k = 0; k < cols; ++k) acc += to_float(w[r * cols + k]) * x[k];
    y[r] = acc;
  }
}

// y[r] = sum_k W[r, k] x[k] for an MXFP4 matrix (cols a multiple of 32), each weight decoded as
// decode_row decodes it (the E2M1 value times the block's power-of-two scale), in column order.
inline void gemv_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t rows, int cols,
                       const float* x, float* y) {
  const int nb = cols / mxfp4::block_elems;
  for (std::int64_t r = 0; r < rows; ++r) {
    float acc = 0.0f;
    for (int b = 0; b < nb; ++b) {
      const std::uint8_t* q = blocks + (r * nb + b) * mxfp4::block_bytes;
      const float* xb = x + b * mxfp4::block_elems;
      const float s = mxfp4::e8m0_value(scales[r * nb + b]);
      for (int j = 0; j < mxfp4::block_bytes; ++j) {
        const mxfp4::pair p = mxfp4::decode_byte(q[j], s);
        acc += p.even * xb[2 * j];
        acc += p.odd * xb[2 * j + 1];
      }
    }
    y[r] = acc;
  }
}

// out[i] = w[i] for n bf16 values.
inline void widen_bf16(const bf16* w, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = to_float(w[i]);
}

// The n values (a multiple of 32) of MXFP4 blocks, in order.
inline void decode_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t n, float* out) {
  mxfp4::decode_row(blocks, scales, std::size_t(n), out);
}

// Attention over one block of n keys for the `group` query heads that share them (q: group x dim;
// keys `stride` floats apart): s[i * s_stride + j] = scale * (q_i . k_j), and block_max[i] = the
// largest of head i's n scores.
inline void scores(const float* q, int group, int dim, const float* k, std::int64_t stride, int n, float scale,
                   float* s, int s_stride, float* block_max) {
  for (int i = 0; i < group; ++i) {
    float m = -INFINITY;
    for (int j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int d = 0; d < dim; ++d) acc += q[i * dim + d] * k[j * stride + d];
      s[i * s_stride + j] = acc * scale;
      m = std::max(m, acc * scale);
    }
    block_max[i] = m;
  }
}

// Attention: s[j] = exp(s[j] - shift) for n values (all <= shift); returns their sum.
inline float exp_shifted(float* s, int n, float shift) {
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - shift));
  return sum;
}

// Attention, the values of the block: acc_i = acc_i * rescale[i] + sum_j p[i * p_stride + j] v_j for
// each head i < group (acc: group x dim; values `stride` floats apart).
inline void accumulate(const float* p, int p_stride, int group, int dim, const float* v, std::int64_t stride, int n,
                       const float* rescale, float* acc) {
  for (int i = 0; i < group; ++i) {
    float* a = acc + i * dim;
    for (int d = 0; d < dim; ++d) a[d] *= rescale[i];
    for (int j = 0; j < n; ++j)
      for (int d = 0; d < dim; ++d) a[d] += p[i * p_stride + j] * v[j * stride + d];
  }
}

}  // namespace scalar

// The tile of rows x cols bf16 weights whose rows start row_stride values apart, row-major: each
// row's values widened in order.
template <auto Widen>
void widen_tile(const bf16* w, std::int64_t row_stride, int rows, int cols, float* tile) {
  for (int r = 0; r < rows; ++r) Widen(w + r * row_stride, cols, tile + std::int64_t(r) * cols);
}

}  // namespace gptoss::host::detail
