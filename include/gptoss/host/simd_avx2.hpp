// The host kernels for AVX2 + FMA (x86-64-v3), compiled for that target function by function;
// kernels.hpp calls them only when the CPU has the instructions. Each implements the contract of
// its namesake in simd_scalar.hpp. As in simd_avx512.hpp, MXFP4 codes are looked up in registers:
// vpermps on 8 lanes reads 3 index bits, the magnitude, and the sign bit is moved into place.
#pragma once
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/mxfp4.hpp"

#define GPTOSS_HAVE_AVX2_KERNELS 1
#define GPTOSS_AVX2 __attribute__((target("avx2,fma")))

namespace gptoss::host_detail::avx2 {

// Row streaming as in simd_avx512.hpp: bf16 rows one at a time, MXFP4 rows two at a time with a
// prefetch 16 rows ahead.
inline constexpr int mxfp4_rows_at_once = 2;
inline constexpr int mxfp4_prefetch_rows = 16;

// All-ones in the first n (<= 8) lanes.
GPTOSS_AVX2 inline __m256i tail_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
GPTOSS_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
GPTOSS_AVX2 inline __m256 widen8(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
GPTOSS_AVX2 inline __m256 load_bf16(const bf16* p) { return widen8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// Decodes 8 E2M1 codes held in the low 4 bits of each lane (higher bits ignored).
GPTOSS_AVX2 inline __m256 e2m1(__m256i codes) {
  const __m256 magnitude = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
  const __m256i sign = _mm256_and_si256(_mm256_slli_epi32(codes, 28), _mm256_set1_epi32(int(0x80000000u)));
  return _mm256_xor_ps(_mm256_permutevar8x32_ps(magnitude, codes), _mm256_castsi256_ps(sign));
}
GPTOSS_AVX2 inline __m256i codes8(const std::uint8_t* q) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
}

GPTOSS_AVX2 inline float gemv_bf16_row(const bf16* w, int cols, const float* x) {
  __m256 acc[4];  // 4 independent FMA chains
#pragma GCC unroll 4
  for (int a = 0; a < 4; ++a) acc[a] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 32 <= cols; k += 32)
#pragma GCC unroll 4
    for (int a = 0; a < 4; ++a) acc[a] = _mm256_fmadd_ps(load_bf16(w + k + 8 * a), _mm256_loadu_ps(x + k + 8 * a), acc[a]);
  float tail = 0.0f;
  for (; k < cols; ++k) tail += to_float(w[k]) * x[k];
  return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))) + tail;
}

GPTOSS_AVX2 inline void gemv_bf16(const bf16* w, std::int64_t rows, int cols, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) y[r] = gemv_bf16_row(w + r * cols, cols, x);
}

template <int R>
GPTOSS_AVX2 inline void gemv_mxfp4_rows(const std::uint8_t* blocks, const std::uint8_t* scales, int cols,
                                        const float* xs, float* y) {
  const int nb = cols / mxfp4::block_elems;
  __m256 acc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const float* xb = xs + b * 32;
    const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8), x2 = _mm256_loadu_ps(xb + 16),
                 x3 = _mm256_loadu_ps(xb + 24);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const std::uint8_t* q = blocks + (std::int64_t(r) * nb + b) * mxfp4::block_bytes;
      if (b % 4 == 0)  // one request per 64-byte line
        _mm_prefetch(reinterpret_cast<const char*>(q + std::int64_t(mxfp4_prefetch_rows) * nb * mxfp4::block_bytes), _MM_HINT_T0);
      const __m256i c0 = codes8(q), c1 = codes8(q + 8);
      __m256 part = _mm256_mul_ps(e2m1(c0), x0);
      part = _mm256_fmadd_ps(e2m1(c1), x1, part);
      part = _mm256_fmadd_ps(e2m1(_mm256_srli_epi32(c0, 4)), x2, part);
      part = _mm256_fmadd_ps(e2m1(_mm256_srli_epi32(c1, 4)), x3, part);
      acc[r] = _mm256_fmadd_ps(part, _mm256_set1_ps(mxfp4::e8m0_value(scales[r * nb + b])), acc[r]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) y[r] = hsum(acc[r]);
}

GPTOSS_AVX2 inline void gemv_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t rows, int cols,
                                   const float* xs, float* y) {
  const std::int64_t row_bytes = cols / 2, row_scales = cols / mxfp4::block_elems;
  std::int64_t r = 0;
  constexpr int R = mxfp4_rows_at_once;
  for (; r + R <= rows; r += R) gemv_mxfp4_rows<R>(blocks + r * row_bytes, scales + r * row_scales, cols, xs, y + r);
  for (; r < rows; ++r) gemv_mxfp4_rows<1>(blocks + r * row_bytes, scales + r * row_scales, cols, xs, y + r);
}

GPTOSS_AVX2 inline void widen_bf16(const bf16* w, std::int64_t n, float* out) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_bf16(w + i));
  for (; i < n; ++i) out[i] = to_float(w[i]);
}

GPTOSS_AVX2 inline void decode_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t n, float* out) {
  for (std::int64_t b = 0; b < n / mxfp4::block_elems; ++b) {
    const __m256 s = _mm256_set1_ps(mxfp4::e8m0_value(scales[b]));
    for (int half = 0; half < 2; ++half) {
      const __m256i c = codes8(blocks + b * mxfp4::block_bytes + half * 8);
      const __m256 lo = _mm256_mul_ps(e2m1(c), s), hi = _mm256_mul_ps(e2m1(_mm256_srli_epi32(c, 4)), s);
      // unpack gives [l0 h0 l1 h1 | l4 h4 l5 h5] and [l2 h2 l3 h3 | l6 h6 l7 h7]; the lane swap orders them.
      const __m256 a = _mm256_unpacklo_ps(lo, hi), c2 = _mm256_unpackhi_ps(lo, hi);
      float* o = out + b * 32 + half * 16;
      _mm256_storeu_ps(o, _mm256_permute2f128_ps(a, c2, 0x20));
      _mm256_storeu_ps(o + 8, _mm256_permute2f128_ps(a, c2, 0x31));
    }
  }
}

template <int R, int T>
GPTOSS_AVX2 inline void gemm_tile(const float* w, int cols, const float* x, std::int64_t x_stride, float* y,
                                  std::int64_t y_stride) {
  __m256 acc[R][T];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int k = 0; k < cols; k += 8) {
    const __m256i m = tail_mask(std::min(8, cols - k));
    __m256 wv[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = _mm256_maskload_ps(w + std::int64_t(r) * cols + k, m);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const __m256 xv = _mm256_maskload_ps(x + t * x_stride + k, m);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
}

template <int T>
GPTOSS_AVX2 inline void gemm_all_rows(const float* w, int rows, int cols, const float* x, std::int64_t x_stride,
                                      float* y, std::int64_t y_stride) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) gemm_tile<4, T>(w + std::int64_t(r) * cols, cols, x, x_stride, y + r, y_stride);
  for (; r < rows; ++r) gemm_tile<1, T>(w + std::int64_t(r) * cols, cols, x, x_stride, y + r, y_stride);
}

GPTOSS_AVX2 inline void gemm_rows(const float* w, int rows, int cols, const float* x, std::int64_t x_stride,
                                  int tokens, float* y, std::int64_t y_stride) {
  constexpr int T = 2;  // 4 x 2 accumulators + 4 weight vectors + 1 activation within 16 registers
  int t = 0;
  for (; t + T <= tokens; t += T) gemm_all_rows<T>(w, rows, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride);
  if (t < tokens) gemm_all_rows<1>(w, rows, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride);
}

// Lane j: the sum of the 8 lanes of a[j] (as hsum16 in simd_avx512.hpp).
GPTOSS_AVX2 inline __m256 hsum8(const __m256 (&a)[8]) {
  // 128-bit lane L of each: lane L's partial sums of a[0..3] and a[4..7].
  const __m256 lo = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  const __m256 hi = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31));
}

// The scores of 8 keys for one query head, as scores16 in simd_avx512.hpp.
template <std::size_t... J>
GPTOSS_AVX2 inline __m256 scores8(const float* q, const float* k, std::int64_t stride, int keys, int dim,
                                  std::index_sequence<J...>) {
  const float* row[8] = {(k + std::min(int(J), keys - 1) * stride)...};
  __m256 a[8] = {(void(J), _mm256_setzero_ps())...};
  for (int d = 0; d < dim; d += 8) {
    const __m256i dm = tail_mask(std::min(8, dim - d));
    const __m256 qv = _mm256_maskload_ps(q + d, dm);
    ((a[J] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(row[J] + d, dm), a[J])), ...);
  }
  return hsum8(a);
}

GPTOSS_AVX2 inline void scores(const float* q, int group, int dim, const float* k, std::int64_t stride, int n,
                               float scale, float* s, int s_stride, float* block_max) {
  for (int i = 0; i < group; ++i) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    for (int j0 = 0; j0 < n; j0 += 8) {
      const int keys = std::min(8, n - j0);
      const __m256i jm = tail_mask(keys);
      const __m256 sv = _mm256_mul_ps(scores8(q + i * dim, k + j0 * stride, stride, keys, dim, std::make_index_sequence<8>()),
                                      _mm256_set1_ps(scale));
      _mm256_maskstore_ps(s + i * s_stride + j0, jm, sv);
      m = _mm256_max_ps(m, _mm256_blendv_ps(m, sv, _mm256_castsi256_ps(jm)));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    block_max[i] = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
  }
}

// Two heads at a time over 32 dimensions: 8 accumulators, 4 value vectors and the weight in 16
// registers.
template <int H>
GPTOSS_AVX2 inline void accumulate_heads(const float* p, int p_stride, int dim, const float* v, std::int64_t stride,
                                         int n, const float* rescale, float* acc) {
  for (int d = 0; d < dim; d += 32) {
    __m256i dm[4];
#pragma GCC unroll 16
    for (int c = 0; c < 4; ++c) dm[c] = tail_mask(std::clamp(dim - d - 8 * c, 0, 8));
    __m256 a[H][4];
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < 4; ++c)
        a[h][c] = _mm256_mul_ps(_mm256_maskload_ps(acc + h * dim + d + 8 * c, dm[c]), _mm256_set1_ps(rescale[h]));
    for (int j = 0; j < n; ++j) {
      __m256 vj[4];
#pragma GCC unroll 16
      for (int c = 0; c < 4; ++c) vj[c] = _mm256_maskload_ps(v + j * stride + d + 8 * c, dm[c]);
#pragma GCC unroll 8
      for (int h = 0; h < H; ++h) {
        const __m256 pj = _mm256_set1_ps(p[h * p_stride + j]);
#pragma GCC unroll 16
        for (int c = 0; c < 4; ++c) a[h][c] = _mm256_fmadd_ps(pj, vj[c], a[h][c]);
      }
    }
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < 4; ++c) _mm256_maskstore_ps(acc + h * dim + d + 8 * c, dm[c], a[h][c]);
  }
}

GPTOSS_AVX2 inline void accumulate(const float* p, int p_stride, int group, int dim, const float* v,
                                   std::int64_t stride, int n, const float* rescale, float* acc) {
  int i = 0;
  for (; i + 2 <= group; i += 2)
    accumulate_heads<2>(p + i * p_stride, p_stride, dim, v, stride, n, rescale + i, acc + i * dim);
  for (; i < group; ++i) accumulate_heads<1>(p + i * p_stride, p_stride, dim, v, stride, n, rescale + i, acc + i * dim);
}

}  // namespace gptoss::host_detail::avx2

#endif
