// The host kernels for AVX-512 (F, BW, VL), compiled for that target function by function so that
// a program built for a baseline x86-64 still carries them; kernels.hpp calls them only when the
// CPU has the instructions. Each kernel implements the contract of its namesake in simd_scalar.hpp.
//
// Products are float32 FMAs on exactly widened weights: bf16 is widened by a 16-bit shift, MXFP4
// nibbles are looked up in a 16-entry float table held in one register (vpermps reads only the
// low 4 bits of each index), and a block's power-of-two scale multiplies the block's partial sum.
#pragma once
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/host/simd_scalar.hpp"
#include "gptoss/host/gemm_blocks.hpp"
#include "gptoss/host/spread_prefetch.hpp"

#define GPTOSS_HAVE_AVX512_KERNELS 1
#define GPTOSS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,bmi2")))

namespace gptoss::host_detail::avx512 {

// Both GEMVs stream their rows one at a time, so that a matrix is one sequential stream, and ask
// for each 64-byte line 4 KB before they reach it. Measured on one Emerald Rapids core reading
// from DRAM (a read-sum at 11-14 GB/s): bf16 ~8-9.5 GB/s without the prefetch, 10.5-12 with it
// (1 KB ahead 9.7-10.9); MXFP4 two rows at a time with a prefetch 16 rows ahead 6.7-8.8 GB/s,
// one row 4 KB ahead 9.7-10.1. (On Zen 4, bf16 rows without a prefetch streamed ~21 GB/s, MXFP4
// two rows 16 ahead ~10.5; these distances have not been measured there.)
inline constexpr int prefetch_bytes = 4096;
GPTOSS_AVX512 inline void prefetch_ahead(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + prefetch_bytes, _MM_HINT_T0);
}

GPTOSS_AVX512 inline __m512 widen16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
GPTOSS_AVX512 inline __m512 load_bf16(const bf16* p) { return widen16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
GPTOSS_AVX512 inline __m512 load_bf16(const bf16* p, __mmask16 m) { return widen16(_mm256_maskz_loadu_epi16(m, p)); }
GPTOSS_AVX512 inline __mmask16 tail_mask(int n) { return __mmask16((1u << n) - 1); }
// The 16 lanes folded by addition or, with Max, by max. The masked shuffles name their
// pass-through operand: the unmasked ones (and _mm512_reduce_add_ps) pass an undefined one, which
// GCC 12 warns about.
template <bool Max>
GPTOSS_AVX512 inline __m512 fold(__m512 a, __m512 b) {
  if constexpr (Max) return _mm512_max_ps(a, b);
  else return _mm512_add_ps(a, b);
}
template <bool Max>
GPTOSS_AVX512 inline __m128 fold(__m128 a, __m128 b) {
  if constexpr (Max) return _mm_max_ps(a, b);
  else return _mm_add_ps(a, b);
}
template <bool Max>
GPTOSS_AVX512 inline float fold_lanes(__m512 v) {
  v = fold<Max>(v, _mm512_mask_shuffle_f32x4(v, __mmask16(0xffff), v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = fold<Max>(v, _mm512_mask_shuffle_f32x4(v, __mmask16(0xffff), v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 s = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), __mmask8(0xf), v, 0);
  s = fold<Max>(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(fold<Max>(s, _mm_movehdup_ps(s)));
}
GPTOSS_AVX512 inline float hsum(__m512 v) { return fold_lanes<false>(v); }
GPTOSS_AVX512 inline float hmax(__m512 v) { return fold_lanes<true>(v); }

// Lane j of hsum16: the sum of the 16 lanes of a[j]. A 16 x 16 transpose folded into the
// additions, 45 operations for 16 sums: pairs, then quads within 128-bit lanes (each 128-bit lane
// then holds its partial sums of four inputs), then the 128-bit lanes folded together. Written
// without loops so that the compiler keeps the 16 inputs in registers.
GPTOSS_AVX512 inline __m512 sum_pairs(__m512 x, __m512 y) {
  return _mm512_add_ps(_mm512_mask_unpacklo_ps(x, __mmask16(0xffff), x, y), _mm512_mask_unpackhi_ps(x, __mmask16(0xffff), x, y));
}
GPTOSS_AVX512 inline __m512 sum_quads(__m512 x, __m512 y) {
  const __m512d a = _mm512_castps_pd(x), b = _mm512_castps_pd(y);
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_mask_unpacklo_pd(a, __mmask8(0xff), a, b)),
                       _mm512_castpd_ps(_mm512_mask_unpackhi_pd(a, __mmask8(0xff), a, b)));
}
GPTOSS_AVX512 inline __m512 sum_lanes(__m512 x, __m512 y) {
  return _mm512_add_ps(_mm512_mask_shuffle_f32x4(x, __mmask16(0xffff), x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_mask_shuffle_f32x4(x, __mmask16(0xffff), x, y, _MM_SHUFFLE(3, 1, 3, 1)));
}
GPTOSS_AVX512 inline __m512 hsum16(const __m512 (&a)[16]) {
  const __m512 c0 = sum_quads(sum_pairs(a[0], a[1]), sum_pairs(a[2], a[3]));
  const __m512 c1 = sum_quads(sum_pairs(a[4], a[5]), sum_pairs(a[6], a[7]));
  const __m512 c2 = sum_quads(sum_pairs(a[8], a[9]), sum_pairs(a[10], a[11]));
  const __m512 c3 = sum_quads(sum_pairs(a[12], a[13]), sum_pairs(a[14], a[15]));
  return sum_lanes(sum_lanes(c0, c1), sum_lanes(c2, c3));
}

// The four lane sums {sum a, sum b, sum c, sum d}, sharing the shuffles of the reduction.
GPTOSS_AVX512 inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  __m512 v = sum_quads(sum_pairs(a, b), sum_pairs(c, d));  // each 128-bit lane: its partial sums
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, __mmask16(0xffff), v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, __mmask16(0xffff), v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), __mmask8(0xf), v, 0);
}

// E2M1 codes 0..15 as floats.
GPTOSS_AVX512 inline __m512 e2m1_table() {
  return _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
}

// Up to 16 E8M0 scale bytes as floats 2^(s-127) (the byte 0 is the subnormal 2^-127).
GPTOSS_AVX512 inline void scales16(const std::uint8_t* s, int n, float* out) {
  const __m512i b = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(tail_mask(n), s));
  __m512i bits = _mm512_slli_epi32(b, 23);
  bits = _mm512_mask_mov_epi32(bits, _mm512_cmpeq_epi32_mask(b, _mm512_setzero_si512()), _mm512_set1_epi32(0x00400000));
  _mm512_storeu_ps(out, _mm512_castsi512_ps(bits));
}

GPTOSS_AVX512 inline float gemv_bf16_row(const bf16* w, int cols, const float* x) {
  __m512 acc[4];  // 4 independent FMA chains
#pragma GCC unroll 4
  for (int a = 0; a < 4; ++a) acc[a] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 64 <= cols; k += 64) {  // two 64-byte lines
    prefetch_ahead(w + k), prefetch_ahead(w + k + 32);
#pragma GCC unroll 4
    for (int a = 0; a < 4; ++a) acc[a] = _mm512_fmadd_ps(load_bf16(w + k + 16 * a), _mm512_loadu_ps(x + k + 16 * a), acc[a]);
  }
  for (; k < cols; k += 16) {
    const __mmask16 m = tail_mask(std::min(16, cols - k));
    acc[0] = _mm512_fmadd_ps(load_bf16(w + k, m), _mm512_maskz_loadu_ps(m, x + k), acc[0]);
  }
  return hsum(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

GPTOSS_AVX512 inline void gemv_bf16(const bf16* w, std::int64_t rows, int cols, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) y[r] = gemv_bf16_row(w + r * cols, cols, x);
}

GPTOSS_AVX512 inline float gemv_mxfp4_row(const std::uint8_t* q, const std::uint8_t* s, int nb, const float* xs) {
  const __m512 table = e2m1_table();
  __m512 acc = _mm512_setzero_ps();
  alignas(64) float sc[16];
  for (int b0 = 0; b0 < nb; b0 += 16) {
    const int n = std::min(16, nb - b0);
    scales16(s + b0, n, sc);
    for (int i = 0; i < n; ++i) {
      const int b = b0 + i;
      const std::uint8_t* qb = q + b * mxfp4::block_bytes;
      if (b % 4 == 0) prefetch_ahead(qb);  // one request per 64-byte line
      const __m512i codes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qb)));
      __m512 part = _mm512_mul_ps(_mm512_permutexvar_ps(codes, table), _mm512_loadu_ps(xs + b * 32));
      part = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(codes, 4), table), _mm512_loadu_ps(xs + b * 32 + 16), part);
      acc = _mm512_fmadd_ps(part, _mm512_set1_ps(sc[i]), acc);
    }
  }
  return hsum(acc);
}

GPTOSS_AVX512 inline void gemv_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t rows,
                                     int cols, const float* xs, float* y) {
  const int nb = cols / mxfp4::block_elems;
  for (std::int64_t r = 0; r < rows; ++r)
    y[r] = gemv_mxfp4_row(blocks + r * nb * mxfp4::block_bytes, scales + r * nb, nb, xs);
}

GPTOSS_AVX512 inline void widen_bf16(const bf16* w, std::int64_t n, float* out) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, load_bf16(w + i));
  if (i < n) {
    const __mmask16 m = tail_mask(int(n - i));
    _mm512_mask_storeu_ps(out + i, m, load_bf16(w + i, m));
  }
}

GPTOSS_AVX512 inline void decode_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t n,
                                       float* out) {
  const __m512 table = e2m1_table();
  // Interleave the even (low nibble) and odd (high nibble) values back into element order.
  const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(8));
  alignas(64) float sc[16];
  const std::int64_t nb = n / mxfp4::block_elems;
  for (std::int64_t b0 = 0; b0 < nb; b0 += 16) {
    const int cnt = int(std::min<std::int64_t>(16, nb - b0));
    scales16(scales + b0, cnt, sc);
    for (int i = 0; i < cnt; ++i) {
      const std::int64_t b = b0 + i;
      const __m512i codes =
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + b * mxfp4::block_bytes)));
      const __m512 s = _mm512_set1_ps(sc[i]);
      const __m512 lo = _mm512_mul_ps(_mm512_permutexvar_ps(codes, table), s);
      const __m512 hi = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(codes, 4), table), s);
      _mm512_storeu_ps(out + b * 32, _mm512_permutex2var_ps(lo, first, hi));
      _mm512_storeu_ps(out + b * 32 + 16, _mm512_permutex2var_ps(lo, second, hi));
    }
  }
}

// y[t, r] (+)= the dot products of R rows of w (w_stride floats apart) and T tokens of x over n
// columns: R x T 16-wide partial sums, reduced at the end, 4 rows at once where R is 4.
template <int R, int T>
GPTOSS_AVX512 inline void gemm_tile(const float* w, std::int64_t w_stride, int n, const float* x, std::int64_t x_stride,
                                    float* y, std::int64_t y_stride, bool accumulate) {
  __m512 acc[R][T];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask(std::min(16, n - k));
    __m512 wv[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = _mm512_maskz_loadu_ps(m, w + r * w_stride + k);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * x_stride + k);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    float* out = y + t * y_stride;
    if constexpr (R == 4) {
      const __m128 sums = hsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
      _mm_storeu_ps(out, accumulate ? _mm_add_ps(_mm_loadu_ps(out), sums) : sums);
    } else {
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) out[r] = (accumulate ? out[r] : 0.0f) + hsum(acc[r][t]);
    }
  }
}

// Every row for T tokens over columns [k0, k0 + n): the tokens' activations stay in L1 while the
// weight rows stream from L2.
template <int T>
GPTOSS_AVX512 inline void gemm_all_rows(const float* w, int rows, int cols, int k0, int n, const float* x,
                                        std::int64_t x_stride, float* y, std::int64_t y_stride) {
  int r = 0;
  for (; r + 4 <= rows; r += 4)
    gemm_tile<4, T>(w + std::int64_t(r) * cols + k0, cols, n, x + k0, x_stride, y + r, y_stride, k0 > 0);
  for (; r < rows; ++r)
    gemm_tile<1, T>(w + std::int64_t(r) * cols + k0, cols, n, x + k0, x_stride, y + r, y_stride, k0 > 0);
}

// Columns a block at a time, so that 6 tokens' activations (12 KB) stay in L1 beside the 4 weight
// rows: over all 2880 columns (69 KB) they came from L2 with the weights. Measured on an Emerald
// Rapids core, one expert's MLP1 for 64 tokens (BM_gemm_mxfp4): 57-72 GFLOP/s without blocks,
// 64-91 with blocks of 1024 columns, 67-86 with 512 (the FMA peak ~177). The partial sums of the
// blocks are added in a fixed order.
inline constexpr int gemm_columns = 512;

GPTOSS_AVX512 inline void gemm_rows(const float* w, int rows, int cols, const float* x, std::int64_t x_stride,
                                    int tokens, float* y, std::int64_t y_stride) {
  // 4 x 6 accumulators + 4 weight vectors + 1 activation fit in 32 registers
  gemm_in_blocks<gemm_columns, 6>(cols, tokens, [&]<int T>(int k0, int n, int t0) {
    gemm_all_rows<T>(w, rows, cols, k0, n, x + t0 * x_stride, x_stride, y + t0 * y_stride, y_stride);
  });
}


// The scores of 16 keys for one query head: one accumulator per key, so every FMA chain is
// independent, and one transpose (hsum16) for the 16 horizontal sums. Past the last key the last
// key is read again (the caller masks those lanes out). The accumulators are named through J so
// that they stay in registers.
template <std::size_t... J>
GPTOSS_AVX512 inline __m512 scores16(const float* q, const float* k, std::int64_t stride, int keys, int dim,
                                     std::index_sequence<J...>) {
  const float* row[16] = {(k + std::min(int(J), keys - 1) * stride)...};
  __m512 a[16] = {(void(J), _mm512_setzero_ps())...};
  int d = 0;
  for (; d + 16 <= dim; d += 16) {  // unmasked loads fold into the FMAs
    const __m512 qv = _mm512_loadu_ps(q + d);
    ((a[J] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(row[J] + d), a[J])), ...);
  }
  if (d < dim) {
    const __mmask16 dm = tail_mask(dim - d);
    const __m512 qv = _mm512_maskz_loadu_ps(dm, q + d);
    ((a[J] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(dm, row[J] + d), a[J])), ...);
  }
  return hsum16(a);
}

// The keys n rows on (the next block, where a run of the cache continues) are prefetched as these
// are scored, one step per 16 keys of each head: the hardware prefetcher alone left decode
// attention at ~5.5 GB/s on an Emerald Rapids core.
GPTOSS_AVX512 inline void scores(const float* q, int group, int dim, const float* k, std::int64_t stride, int n,
                                 float scale, float* s, int s_stride, float* block_max) {
  SpreadPrefetch next(k + n * stride, n, stride, dim, std::int64_t(group) * ((n + 15) / 16));
  for (int i = 0; i < group; ++i) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int j0 = 0; j0 < n; j0 += 16) {
      next.step();
      const int keys = std::min(16, n - j0);
      const float* kj = k + j0 * stride;
      const __mmask16 jm = tail_mask(keys);
      const __m512 sv = _mm512_mul_ps(scores16(q + i * dim, kj, stride, keys, dim, std::make_index_sequence<16>()),
                                      _mm512_set1_ps(scale));
      _mm512_mask_storeu_ps(s + i * s_stride + j0, jm, sv);
      m = _mm512_mask_max_ps(m, jm, m, sv);
    }
    block_max[i] = hmax(m);
  }
}

// exp(x) for x <= 0: 2^k e^r with k = round(x log2 e) and |r| <= ln2/2, e^r by its Taylor series
// (the constants in simd_scalar.hpp), and 2^k applied by vscalefps, which flushes to zero below the
// float range.
GPTOSS_AVX512 inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // exp(-104) is below the smallest float
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(exp_log2e)), _MM_FROUND_TO_NEAREST_INT);
  const __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(exp_ln2_lo), _mm512_fnmadd_ps(k, _mm512_set1_ps(exp_ln2_hi), x));
  __m512 p = _mm512_set1_ps(exp_taylor[0]);
#pragma GCC unroll 8
  for (int i = 1; i < 8; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(exp_taylor[i]));
  return _mm512_scalef_ps(p, k);
}

GPTOSS_AVX512 inline float exp_shifted(float* s, int n, float shift) {
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(std::min(16, n - j));
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), _mm512_set1_ps(shift)));
    _mm512_mask_storeu_ps(s + j, m, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  return hsum(sum);
}

// H heads at a time over 64 dimensions (4 x H accumulators): each value row is loaded once for
// the H heads, and each accumulator takes one FMA per key, so the chains are independent.
// Masked: whether dim may leave part of the 64 unused (masked loads do not fold into the FMAs).
// One step of `next` per key of each pass over the values.
template <int H, bool Masked>
GPTOSS_AVX512 inline void accumulate_heads(const float* p, int p_stride, int dim, const float* v, std::int64_t stride,
                                           int n, const float* rescale, float* acc, SpreadPrefetch& next) {
  for (int d = 0; d < dim; d += 64) {
    __mmask16 dm[4];
#pragma GCC unroll 16
    for (int c = 0; c < 4; ++c) dm[c] = Masked ? tail_mask(std::clamp(dim - d - 16 * c, 0, 16)) : __mmask16(0xffff);
    __m512 a[H][4];
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < 4; ++c)
        a[h][c] = _mm512_mul_ps(_mm512_maskz_loadu_ps(dm[c], acc + h * dim + d + 16 * c), _mm512_set1_ps(rescale[h]));
    for (int j = 0; j < n; ++j) {
      next.step();
      __m512 vj[4];
#pragma GCC unroll 16
      for (int c = 0; c < 4; ++c)
        vj[c] = Masked ? _mm512_maskz_loadu_ps(dm[c], v + j * stride + d + 16 * c) : _mm512_loadu_ps(v + j * stride + d + 16 * c);
#pragma GCC unroll 16
      for (int h = 0; h < H; ++h) {
        const __m512 pj = _mm512_set1_ps(p[h * p_stride + j]);
#pragma GCC unroll 16
        for (int c = 0; c < 4; ++c) a[h][c] = _mm512_fmadd_ps(pj, vj[c], a[h][c]);
      }
    }
#pragma GCC unroll 16
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(acc + h * dim + d + 16 * c, dm[c], a[h][c]);
  }
}

// The values n rows on (the next block) are prefetched as these are used, spread over every pass:
// (group / 4 + group % 4) tiles of heads, each over dim in steps of 64.
GPTOSS_AVX512 inline void accumulate(const float* p, int p_stride, int group, int dim, const float* v,
                                     std::int64_t stride, int n, const float* rescale, float* acc) {
  const std::int64_t passes = std::int64_t(group / 4 + group % 4) * ((dim + 63) / 64);
  SpreadPrefetch next(v + n * stride, n, stride, dim, passes * n);
  auto heads = [&]<bool Masked>() {
    int i = 0;
    for (; i + 4 <= group; i += 4)
      accumulate_heads<4, Masked>(p + i * p_stride, p_stride, dim, v, stride, n, rescale + i, acc + i * dim, next);
    for (; i < group; ++i)
      accumulate_heads<1, Masked>(p + i * p_stride, p_stride, dim, v, stride, n, rescale + i, acc + i * dim, next);
  };
  if (dim % 64 == 0)
    heads.template operator()<false>();
  else
    heads.template operator()<true>();
}

}  // namespace gptoss::host_detail::avx512

#endif
