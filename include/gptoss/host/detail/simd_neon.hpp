// The host kernels for AArch64 Advanced SIMD (NEON). It is part of the armv8-a baseline, so unlike
// the x86 paths these need no target attribute and no run-time check: every aarch64 build has
// them. Each kernel implements the contract of its namesake in simd_scalar.hpp.
//
// As on x86, products are float32 FMAs on exactly widened weights. bf16 is widened by a 16-bit
// shift (vshll). Every E2M1 value is exact in bf16, so MXFP4 nibbles are looked up as bf16: one
// tbl for the high bytes and one for the low bytes of 16 values, zipped into 16-bit lanes and
// widened like bf16 weights; the block's power-of-two scale multiplies the block's partial sum.
#pragma once
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/host/detail/gemm_blocks.hpp"

#define GPTOSS_HAVE_NEON_KERNELS 1

namespace gptoss::host::detail::neon {

// MXFP4 rows two at a time, so each block's activations are loaded once for both. No software
// prefetch: unlike the x86 choices this has not been measured on ARM hardware, and two
// sequential streams are what hardware prefetchers follow best.
inline constexpr int mxfp4_rows_at_once = 2;

inline float32x4_t widen_lo(uint16x8_t h) { return vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)); }
inline float32x4_t widen_hi(uint16x8_t h) { return vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)); }
inline uint16x8_t load_bf16x8(const bf16* p) { return vld1q_u16(reinterpret_cast<const std::uint16_t*>(p)); }

// E2M1 codes 0..15 as bf16 (0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives): high and low bytes.
struct E2m1Table {
  uint8x16_t hi, lo;
};
inline E2m1Table e2m1_table() {
  alignas(16) static constexpr std::uint8_t hi[16] = {0x00, 0x3f, 0x3f, 0x3f, 0x40, 0x40, 0x40, 0x40,
                                                      0x80, 0xbf, 0xbf, 0xbf, 0xc0, 0xc0, 0xc0, 0xc0};
  alignas(16) static constexpr std::uint8_t lo[16] = {0x00, 0x00, 0x80, 0xc0, 0x00, 0x40, 0x80, 0xc0,
                                                      0x00, 0x00, 0x80, 0xc0, 0x00, 0x40, 0x80, 0xc0};
  return {vld1q_u8(hi), vld1q_u8(lo)};
}

// The values of 16 E2M1 codes (each < 16: tbl gives 0 for larger indices), in order, as 4 vectors.
inline void e2m1x16(const E2m1Table& t, uint8x16_t codes, float32x4_t v[4]) {
  const uint8x16_t hi = vqtbl1q_u8(t.hi, codes), lo = vqtbl1q_u8(t.lo, codes);
  // Little-endian 16-bit lanes: the low byte first.
  const uint16x8_t a = vreinterpretq_u16_u8(vzip1q_u8(lo, hi)), b = vreinterpretq_u16_u8(vzip2q_u8(lo, hi));
  v[0] = widen_lo(a), v[1] = widen_hi(a), v[2] = widen_lo(b), v[3] = widen_hi(b);
}

inline float gemv_bf16_row(const bf16* w, int cols, const float* x) {
  float32x4_t acc[8];  // 8 independent FMA chains: two FMA pipes of 4-cycle latency stay busy
#pragma GCC unroll 8
  for (int a = 0; a < 8; ++a) acc[a] = vdupq_n_f32(0.0f);
  int k = 0;
  for (; k + 32 <= cols; k += 32)
#pragma GCC unroll 4
    for (int a = 0; a < 4; ++a) {
      const uint16x8_t h = load_bf16x8(w + k + 8 * a);
      acc[2 * a] = vfmaq_f32(acc[2 * a], widen_lo(h), vld1q_f32(x + k + 8 * a));
      acc[2 * a + 1] = vfmaq_f32(acc[2 * a + 1], widen_hi(h), vld1q_f32(x + k + 8 * a + 4));
    }
  for (; k + 4 <= cols; k += 4) {
    const float32x4_t wv = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(reinterpret_cast<const std::uint16_t*>(w + k)), 16));
    acc[0] = vfmaq_f32(acc[0], wv, vld1q_f32(x + k));
  }
  float tail = 0.0f;
  for (; k < cols; ++k) tail += to_float(w[k]) * x[k];
#pragma GCC unroll 4
  for (int a = 0; a < 4; ++a) acc[a] = vaddq_f32(acc[a], acc[a + 4]);
  return vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]))) + tail;
}

inline void gemv_bf16(const bf16* w, std::int64_t rows, int cols, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) y[r] = gemv_bf16_row(w + r * cols, cols, x);
}

template <int R>
inline void gemv_mxfp4_rows(const std::uint8_t* blocks, const std::uint8_t* scales, int cols, const float* xs,
                            float* y) {
  const int nb = cols / mxfp4::block_elems;
  const E2m1Table table = e2m1_table();
  const uint8x16_t low_nibble = vdupq_n_u8(0x0f);
  float32x4_t acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r] = vdupq_n_f32(0.0f);
  for (int b = 0; b < nb; ++b) {
    // The block's activations: 16 even elements (low nibbles), then 16 odd ones (high nibbles).
    float32x4_t xv[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) xv[i] = vld1q_f32(xs + b * 32 + 4 * i);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8x16_t q = vld1q_u8(blocks + (std::int64_t(r) * nb + b) * mxfp4::block_bytes);
      float32x4_t even[4], odd[4];
      e2m1x16(table, vandq_u8(q, low_nibble), even);
      e2m1x16(table, vshrq_n_u8(q, 4), odd);
      // Two chains per block, joined before the scale.
      float32x4_t p0 = vmulq_f32(even[0], xv[0]), p1 = vmulq_f32(odd[0], xv[4]);
#pragma GCC unroll 4
      for (int i = 1; i < 4; ++i) p0 = vfmaq_f32(p0, even[i], xv[i]), p1 = vfmaq_f32(p1, odd[i], xv[4 + i]);
      acc[r] = vfmaq_n_f32(acc[r], vaddq_f32(p0, p1), mxfp4::e8m0_value(scales[std::int64_t(r) * nb + b]));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) y[r] = vaddvq_f32(acc[r]);
}

inline void gemv_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t rows, int cols,
                       const float* xs, float* y) {
  const std::int64_t row_bytes = cols / 2, row_scales = cols / mxfp4::block_elems;
  std::int64_t r = 0;
  constexpr int R = mxfp4_rows_at_once;
  for (; r + R <= rows; r += R) gemv_mxfp4_rows<R>(blocks + r * row_bytes, scales + r * row_scales, cols, xs, y + r);
  for (; r < rows; ++r) gemv_mxfp4_rows<1>(blocks + r * row_bytes, scales + r * row_scales, cols, xs, y + r);
}

inline void widen_bf16(const bf16* w, std::int64_t n, float* out) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = load_bf16x8(w + i);
    vst1q_f32(out + i, widen_lo(h));
    vst1q_f32(out + i + 4, widen_hi(h));
  }
  for (; i < n; ++i) out[i] = to_float(w[i]);
}

inline void decode_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t n, float* out) {
  const E2m1Table table = e2m1_table();
  const uint8x16_t low_nibble = vdupq_n_u8(0x0f);
  for (std::int64_t b = 0; b < n / mxfp4::block_elems; ++b) {
    const uint8x16_t q = vld1q_u8(blocks + b * mxfp4::block_bytes);
    const uint8x16_t lo = vandq_u8(q, low_nibble), hi = vshrq_n_u8(q, 4);
    const float s = mxfp4::e8m0_value(scales[b]);
    // Interleaving the nibbles (the even element is the low one) puts the codes in element order.
    const uint8x16_t codes[2] = {vzip1q_u8(lo, hi), vzip2q_u8(lo, hi)};
    for (int half = 0; half < 2; ++half) {
      float32x4_t v[4];
      e2m1x16(table, codes[half], v);
      float* o = out + b * mxfp4::block_elems + 16 * half;
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) vst1q_f32(o + 4 * i, vmulq_n_f32(v[i], s));  // exact: s is a power of two
    }
  }
}

// R rows times T tokens, each a 4-wide partial dot product, reduced at the end; the last cols % 4
// products are added one by one.
template <int R, int T>
inline void gemm_tile(const float* w, int cols, const float* x, std::int64_t x_stride, float* y, std::int64_t y_stride,
                      bool accumulate) {
  float32x4_t acc[R][T];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0.0f);
  int k = 0;
  for (; k + 4 <= cols; k += 4) {
    float32x4_t wv[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = vld1q_f32(w + std::int64_t(r) * cols + k);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const float32x4_t xv = vld1q_f32(x + t * x_stride + k);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][t] = vfmaq_f32(acc[r][t], wv[r], xv);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      float sum = vaddvq_f32(acc[r][t]);
      for (int j = k; j < cols; ++j) sum += w[std::int64_t(r) * cols + j] * x[t * x_stride + j];
      float& out = y[t * y_stride + r];
      out = accumulate ? out + sum : sum;
    }
}

// All rows for T tokens: the tokens' activations stay in L1 while the weight rows stream from L2.
template <int T>
inline void gemm_all_rows(const float* w, int rows, int cols, const float* x, std::int64_t x_stride, float* y,
                          std::int64_t y_stride, bool accumulate) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) gemm_tile<4, T>(w + std::int64_t(r) * cols, cols, x, x_stride, y + r, y_stride, accumulate);
  for (; r < rows; ++r) gemm_tile<1, T>(w + std::int64_t(r) * cols, cols, x, x_stride, y + r, y_stride, accumulate);
}

inline void gemm_rows(const float* w, int rows, int cols, const float* x, std::int64_t x_stride, int tokens, float* y,
                      std::int64_t y_stride, bool accumulate) {
  // 4 x 5 accumulators, 4 weight and 5 activation vectors: 29 of the 32 registers (GCC 12 loads
  // every token's activations before the FMAs, and at 4 x 6 spills accumulators in the loop).
  in_token_groups<5>(tokens, [&]<int T>(int t0) {
    gemm_all_rows<T>(w, rows, cols, x + t0 * x_stride, x_stride, y + t0 * y_stride, y_stride, accumulate);
  });
}

}  // namespace gptoss::host::detail::neon

#endif
