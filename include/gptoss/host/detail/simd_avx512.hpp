// The host kernels for AVX-512 (F, BW, VL), compiled for that target function by function so that
// a program built for a baseline x86-64 still carries them; kernels.hpp calls them only when the
// CPU has the instructions. Each kernel implements the contract of its namesake in simd_scalar.hpp.
//
// Products are float32 FMAs on exactly widened weights: bf16 is widened by a 16-bit shift, MXFP4
// nibbles are looked up in a 16-entry float table held in one register (vpermps reads only the
// low 4 bits of each index) and multiplied by their block's power-of-two scale (exact), so that a
// prefill tile can hold them decoded and its products are those of the GEMV (see gemm_rows).
#pragma once
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/host/detail/simd_scalar.hpp"
#include "gptoss/host/detail/gemm_blocks.hpp"
#include "gptoss/host/detail/spread_prefetch.hpp"

#define GPTOSS_HAVE_AVX512_KERNELS 1
#define GPTOSS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,bmi2")))

namespace gptoss::host::detail::avx512 {

// Both GEMVs stream their rows in order (MXFP4 two at a time, see gemv_mxfp4_rows), so that a
// matrix is one sequential stream, and ask for each 64-byte line 4 KB before they reach it, into
// L2. Measured on one Emerald Rapids core reading from DRAM (a read-sum at 11-14 GB/s): bf16
// ~8-9.5 GB/s without the prefetch, 10.5-12 with it into L1 (1 KB ahead 9.7-10.9); MXFP4 two rows
// at a time with a prefetch 16 rows ahead 6.7-8.8 GB/s, one row 4 KB ahead 9.7-10.1. On a Xeon
// reporting family 6 model 167 (2 MB of L2 per core), the same requests into L2 instead of L1 took
// bench_kernels' bf16 GEMV from ~9.9 to ~11.8 GiB/s, alternating builds. (On Zen 4, bf16 rows
// without a prefetch streamed ~21 GB/s, MXFP4 two rows 16 ahead ~10.5; these distances have not
// been measured there.)
inline constexpr int prefetch_bytes = 4096;
GPTOSS_AVX512 inline void prefetch_ahead(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + prefetch_bytes, _MM_HINT_T1);
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
GPTOSS_AVX512 inline __m512 pairs_lo(__m512 x, __m512 y) { return _mm512_mask_unpacklo_ps(x, __mmask16(0xffff), x, y); }
GPTOSS_AVX512 inline __m512 pairs_hi(__m512 x, __m512 y) { return _mm512_mask_unpackhi_ps(x, __mmask16(0xffff), x, y); }
GPTOSS_AVX512 inline __m512 quads_lo(__m512 x, __m512 y) {
  const __m512d a = _mm512_castps_pd(x), b = _mm512_castps_pd(y);
  return _mm512_castpd_ps(_mm512_mask_unpacklo_pd(a, __mmask8(0xff), a, b));
}
GPTOSS_AVX512 inline __m512 quads_hi(__m512 x, __m512 y) {
  const __m512d a = _mm512_castps_pd(x), b = _mm512_castps_pd(y);
  return _mm512_castpd_ps(_mm512_mask_unpackhi_pd(a, __mmask8(0xff), a, b));
}
GPTOSS_AVX512 inline __m512 lanes_even(__m512 x, __m512 y) {
  return _mm512_mask_shuffle_f32x4(x, __mmask16(0xffff), x, y, _MM_SHUFFLE(2, 0, 2, 0));
}
GPTOSS_AVX512 inline __m512 lanes_odd(__m512 x, __m512 y) {
  return _mm512_mask_shuffle_f32x4(x, __mmask16(0xffff), x, y, _MM_SHUFFLE(3, 1, 3, 1));
}
GPTOSS_AVX512 inline __m512 sum_pairs(__m512 x, __m512 y) { return _mm512_add_ps(pairs_lo(x, y), pairs_hi(x, y)); }
GPTOSS_AVX512 inline __m512 sum_quads(__m512 x, __m512 y) { return _mm512_add_ps(quads_lo(x, y), quads_hi(x, y)); }
GPTOSS_AVX512 inline __m512 sum_lanes(__m512 x, __m512 y) { return _mm512_add_ps(lanes_even(x, y), lanes_odd(x, y)); }
GPTOSS_AVX512 inline __m512 hsum16(const __m512 (&a)[16]) {
  const __m512 c0 = sum_quads(sum_pairs(a[0], a[1]), sum_pairs(a[2], a[3]));
  const __m512 c1 = sum_quads(sum_pairs(a[4], a[5]), sum_pairs(a[6], a[7]));
  const __m512 c2 = sum_quads(sum_pairs(a[8], a[9]), sum_pairs(a[10], a[11]));
  const __m512 c3 = sum_quads(sum_pairs(a[12], a[13]), sum_pairs(a[14], a[15]));
  return sum_lanes(sum_lanes(c0, c1), sum_lanes(c2, c3));
}

// E2M1 codes 0..15 as floats.
GPTOSS_AVX512 inline __m512 e2m1_table() {
  return _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
}

// E8M0 scale bytes, one per 32-bit lane, as floats 2^(s-127) (the byte 0 is the subnormal 2^-127).
GPTOSS_AVX512 inline __m512 e8m0_floats(__m512i b) {
  const __m512i bits = _mm512_slli_epi32(b, 23);
  return _mm512_castsi512_ps(
      _mm512_mask_mov_epi32(bits, _mm512_cmpeq_epi32_mask(b, _mm512_setzero_si512()), _mm512_set1_epi32(0x00400000)));
}

// Up to 16 E8M0 scale bytes as floats.
GPTOSS_AVX512 inline void scales16(const std::uint8_t* s, int n, float* out) {
  _mm512_storeu_ps(out, e8m0_floats(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(tail_mask(n), s))));
}

// The order of every product of a row and a token, shared by the GEMVs and gemm_rows so that
// both give the same float: the arranged row and activations (bf16 in order, MXFP4 split_pairs)
// taken 16 columns at a time, chunk c into accumulator c % 2 (a short last chunk masked), and
// the result hsum(acc[0] + acc[1]). MXFP4 weights are their E2M1 values times the block's scale
// (exact), so that a tile can hold them decoded.
GPTOSS_AVX512 inline float dot_result(__m512 a0, __m512 a1) { return hsum(_mm512_add_ps(a0, a1)); }

// a plus the products of the (up to) 16 columns from k.
GPTOSS_AVX512 inline __m512 bf16_chunk(const bf16* w, const float* x, int k, int cols, __m512 a) {
  const __mmask16 m = tail_mask(std::min(16, cols - k));
  return _mm512_fmadd_ps(load_bf16(w + k, m), _mm512_maskz_loadu_ps(m, x + k), a);
}

GPTOSS_AVX512 inline float gemv_bf16_row(const bf16* w, int cols, const float* x) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int k = 0;
  for (; k + 64 <= cols; k += 64) {  // two 64-byte lines
    prefetch_ahead(w + k), prefetch_ahead(w + k + 32);
    a0 = _mm512_fmadd_ps(load_bf16(w + k), _mm512_loadu_ps(x + k), a0);
    a1 = _mm512_fmadd_ps(load_bf16(w + k + 16), _mm512_loadu_ps(x + k + 16), a1);
    a0 = _mm512_fmadd_ps(load_bf16(w + k + 32), _mm512_loadu_ps(x + k + 32), a0);
    a1 = _mm512_fmadd_ps(load_bf16(w + k + 48), _mm512_loadu_ps(x + k + 48), a1);
  }
  for (; k < cols; k += 32) {  // masked: the last chunk may be short
    a0 = bf16_chunk(w, x, k, cols, a0);
    if (k + 16 < cols) a1 = bf16_chunk(w, x, k + 16, cols, a1);
  }
  return dot_result(a0, a1);
}

GPTOSS_AVX512 inline void gemv_bf16(const bf16* w, std::int64_t rows, int cols, const float* x, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) y[r] = gemv_bf16_row(w + r * cols, cols, x);
}

// The 32 weights of the MXFP4 block at qb, times its scale: the even elements, then the odd ones.
// The scale multiplies the table, not the two vectors looked up in it: the same products (a
// permutation moves floats without changing them), one operation fewer per block.
GPTOSS_AVX512 inline void mxfp4_block(const std::uint8_t* qb, __m512 table, __m512 scale, __m512& even, __m512& odd) {
  const __m512i codes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qb)));
  const __m512 scaled = _mm512_mul_ps(table, scale);
  even = _mm512_permutexvar_ps(codes, scaled);
  odd = _mm512_permutexvar_ps(_mm512_srli_epi32(codes, 4), scaled);
}

// R rows at once, each summed in the order of the single-row product: a row's two accumulators
// take one FMA per block, so a single row waits on the FMA's latency; R rows fill it.
template <int R>
GPTOSS_AVX512 inline void gemv_mxfp4_rows(const std::uint8_t* q, const std::uint8_t* s, int nb, const float* xs,
                                          float* y) {
  const __m512 table = e2m1_table();
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  alignas(64) float sc[R][16];
  for (int b0 = 0; b0 < nb; b0 += 16) {
    const int n = std::min(16, nb - b0);
    for (int r = 0; r < R; ++r) scales16(s + std::int64_t(r) * nb + b0, n, sc[r]);
    for (int i = 0; i < n; ++i) {
      const int b = b0 + i;
      const __m512 x0 = _mm512_loadu_ps(xs + b * 32), x1 = _mm512_loadu_ps(xs + b * 32 + 16);
      for (int r = 0; r < R; ++r) {
        const std::uint8_t* qb = q + (std::int64_t(r) * nb + b) * mxfp4::block_bytes;
        if (b % 4 == 0) prefetch_ahead(qb);  // one request per 64-byte line
        __m512 even, odd;
        mxfp4_block(qb, table, _mm512_set1_ps(sc[r][i]), even, odd);
        acc[r][0] = _mm512_fmadd_ps(even, x0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(odd, x1, acc[r][1]);
      }
    }
  }
  for (int r = 0; r < R; ++r) y[r] = dot_result(acc[r][0], acc[r][1]);
}

GPTOSS_AVX512 inline void gemv_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t rows,
                                     int cols, const float* xs, float* y) {
  const int nb = cols / mxfp4::block_elems;
  std::int64_t r = 0;
  for (; r + 2 <= rows; r += 2) gemv_mxfp4_rows<2>(blocks + r * nb * mxfp4::block_bytes, scales + r * nb, nb, xs, y + r);
  for (; r < rows; ++r) gemv_mxfp4_rows<1>(blocks + r * nb * mxfp4::block_bytes, scales + r * nb, nb, xs, y + r);
}
GPTOSS_AVX512 inline void widen_bf16(const bf16* w, std::int64_t n, float* out) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, load_bf16(w + i));
  if (i < n) {
    const __mmask16 m = tail_mask(int(n - i));
    _mm512_mask_storeu_ps(out + i, m, load_bf16(w + i, m));
  }
}

// Prefill tiles are row-major, each row in the order its GEMV reads it (bf16 widened in order,
// MXFP4 decoded as mxfp4_block gives it), so that gemm_rows repeats the GEMV's arithmetic for
// every row and token: 4 rows x 3 tokens x the 2 accumulators of each product are 24 registers,
// fed by 4 weight and 3 activation loads per 16 columns. The accumulators are kept in `state`
// between a row's tiles (stores and loads are exact). Measured on a shared KVM Xeon (family 6
// model 167, one core; BM_gemm_mxfp4, one expert's MLP1 for 64 tokens): tiles of 256 columns
// ~89 GFLOP/s, 512 ~94, 1024 ~102, all 2880 ~89; the column-major tiles these replaced, whose
// order differed from the GEMV's, ~143 in the same runs.
inline constexpr int tile_cols = 1024;
static_assert(tile_cols % mxfp4::block_elems == 0, "MXFP4 tiles hold whole blocks");
inline constexpr int gemm_state = 32;  // the two accumulators of an output

// The tile of rows (<= tile_rows) x cols MXFP4 weights, rows row_stride values apart, row-major
// in split_pairs order, each block's values times its scale.
GPTOSS_AVX512 inline void expand_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t row_stride,
                                       int rows, int cols, float* tile) {
  const std::int64_t row_blocks = row_stride / mxfp4::block_elems;
  const int nb = cols / mxfp4::block_elems;
  const __m512 table = e2m1_table();
  alignas(64) float sc[16];
  for (int r = 0; r < rows; ++r) {
    const std::uint8_t* q = blocks + r * row_blocks * mxfp4::block_bytes;
    const std::uint8_t* s = scales + r * row_blocks;
    float* out = tile + std::int64_t(r) * cols;
    for (int b0 = 0; b0 < nb; b0 += 16) {
      const int n = std::min(16, nb - b0);
      scales16(s + b0, n, sc);
      for (int i = 0; i < n; ++i) {
        const int b = b0 + i;
        __m512 even, odd;
        mxfp4_block(q + b * mxfp4::block_bytes, table, _mm512_set1_ps(sc[i]), even, odd);
        _mm512_storeu_ps(out + b * 32, even);
        _mm512_storeu_ps(out + b * 32 + 16, odd);
      }
    }
  }
}

// Keeps v in a register: GCC otherwise folds a weight load shared by T FMAs into each of them, and
// the loads, not the FMAs, then limit the product.
__attribute__((target("avx512f"), always_inline)) inline void in_register(__m512& v) { asm("" : "+v"(v)); }

// A GEMM block's accumulators, T tokens x R rows, each row's sum in two halves: they start at zero
// or from the state an earlier tile of the row left, and end in that state or, reduced, in y.
inline float* gemm_state_of(float* state, int t, int r, int h) {
  return state + (std::int64_t(t) * tile_rows + r) * gemm_state + 16 * h;
}
template <int R, int T>
GPTOSS_AVX512 inline void gemm_start(__m512 (&acc)[T][R][2], float* state, bool first) {
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) acc[t][r][h] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(gemm_state_of(state, t, r, h));
}
template <int R, int T>
GPTOSS_AVX512 inline void gemm_end(__m512 (&acc)[T][R][2], float* state, bool last, float* y, std::int64_t y_stride) {
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      if (last) {
        y[t * y_stride + r] = dot_result(acc[t][r][0], acc[t][r][1]);
      } else {
        _mm512_storeu_ps(gemm_state_of(state, t, r, 0), acc[t][r][0]);
        _mm512_storeu_ps(gemm_state_of(state, t, r, 1), acc[t][r][1]);
      }
    }
}

// R rows (a tile's, cols apart) times T tokens, over this tile's columns (accumulators as in
// gemm_start and gemm_end).
template <int R, int T>
GPTOSS_AVX512 inline void gemm_block(const float* tile, int cols, const float* x, std::int64_t x_stride, float* state,
                                     bool first, bool last, float* y, std::int64_t y_stride) {
  __m512 acc[T][R][2];
  gemm_start<R, T>(acc, state, first);
  int k = 0;
  for (; k + 32 <= cols; k += 32)
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m512 w[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) w[r] = _mm512_loadu_ps(tile + std::int64_t(r) * cols + k + 16 * h), in_register(w[r]);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        const __m512 xv = _mm512_loadu_ps(x + t * x_stride + k + 16 * h);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[t][r][h] = _mm512_fmadd_ps(w[r], xv, acc[t][r][h]);
      }
    }
  // Fewer than 32 columns left, only in a row's last tile (tile_cols is a multiple of 32): one or
  // two masked chunks, the accumulators named by constants so that they stay in registers.
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h)
    if (k + 16 * h < cols) {
      const int kh = k + 16 * h;
      const __mmask16 m = tail_mask(std::min(16, cols - kh));
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * x_stride + kh);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r)
          acc[t][r][h] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, tile + std::int64_t(r) * cols + kh), xv, acc[t][r][h]);
      }
    }
  gemm_end<R, T>(acc, state, last, y, y_stride);
}

// The tokens a group of 3 at a time, and for each group every 4 rows of the tile: a group's
// activations (3 KB at 256 columns) stay in L1 with the tile while the tile's rows pass.
GPTOSS_AVX512 inline void gemm_rows(const float* tile, int rows, int cols, const float* x, std::int64_t x_stride,
                                    int tokens, float* state, bool first, bool last, float* y, std::int64_t y_stride) {
  in_token_groups<3>(tokens, [&]<int T>(int t0) {
    const float* xt = x + t0 * x_stride;
    float* st = state + std::int64_t(t0) * tile_rows * gemm_state;
    float* yt = y + t0 * y_stride;
    int r = 0;
    for (; r + 4 <= rows; r += 4)
      gemm_block<4, T>(tile + std::int64_t(r) * cols, cols, xt, x_stride, st + r * gemm_state, first, last, yt + r,
                       y_stride);
    const float* tr = tile + std::int64_t(r) * cols;
    switch (rows - r) {
      case 3: gemm_block<3, T>(tr, cols, xt, x_stride, st + r * gemm_state, first, last, yt + r, y_stride); break;
      case 2: gemm_block<2, T>(tr, cols, xt, x_stride, st + r * gemm_state, first, last, yt + r, y_stride); break;
      case 1: gemm_block<1, T>(tr, cols, xt, x_stride, st + r * gemm_state, first, last, yt + r, y_stride); break;
      default: break;
    }
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

}  // namespace gptoss::host::detail::avx512

#endif
