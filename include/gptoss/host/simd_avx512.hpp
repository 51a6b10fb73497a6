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

// Prefill tiles are column-major ([cols][tile_rows]): a column's 32 rows are two vectors, which
// gemm_rows multiplies by each token's activation broadcast, so that the products of 32 rows and
// 12 tokens add up in 24 accumulators with no sums across lanes. A tile spans tile_cols columns
// (32 KB), so that it is written and then read by every token in L1. Measured on an Emerald Rapids
// core, one expert's MLP1 for 64 tokens (BM_gemm_mxfp4), against row-major tiles of all 2880
// columns and a 4 x 6 tile with reductions at 67-72 GFLOP/s in the same runs: column-major tiles
// of all columns 104-120, of 512 columns 108-118, of 256 117-128, of 128 107-126 (the FMA peak
// ~177). The GEMM itself then runs at ~85% of the peak and expanding takes ~11% of the time.
inline constexpr int tile_cols = 256;
static_assert(tile_cols % mxfp4::block_elems == 0, "MXFP4 tiles hold whole blocks");

// v[c] lane i = v[i] lane c: the 16 x 16 transpose, as in hsum16 but without the additions.
GPTOSS_AVX512 inline void transpose16(__m512 (&v)[16]) {
  __m512 t[16], u[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 2)  // within 128-bit lanes: pairs of rows interleaved
    t[i] = pairs_lo(v[i], v[i + 1]), t[i + 1] = pairs_hi(v[i], v[i + 1]);
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 4) {  // u[i + e], 128-bit lane l: element 4l + e of rows i..i+3
    u[i] = quads_lo(t[i], t[i + 2]), u[i + 1] = quads_hi(t[i], t[i + 2]);
    u[i + 2] = quads_lo(t[i + 1], t[i + 3]), u[i + 3] = quads_hi(t[i + 1], t[i + 3]);
  }
#pragma GCC unroll 16
  for (int e = 0; e < 4; ++e) {  // the 128-bit lanes gathered: element 4l + e of the 16 rows
    const __m512 a0 = lanes_even(u[e], u[4 + e]), a1 = lanes_odd(u[e], u[4 + e]);
    const __m512 b0 = lanes_even(u[8 + e], u[12 + e]), b1 = lanes_odd(u[8 + e], u[12 + e]);
    v[e] = lanes_even(a0, b0), v[8 + e] = lanes_odd(a0, b0);
    v[4 + e] = lanes_even(a1, b1), v[12 + e] = lanes_odd(a1, b1);
  }
}

// The tile of rows (<= tile_rows) x cols bf16 weights, rows row_stride apart, column-major: 16 rows
// by 16 columns widened and transposed at a time. Past the last row the last row is read again, so
// that every lane gemm_rows reads holds a finite value; the outputs of those lanes are never stored.
GPTOSS_AVX512 inline void expand_bf16(const bf16* w, std::int64_t row_stride, int rows, int cols, float* tile) {
  for (int r0 = 0; r0 < rows; r0 += 16)
    for (int k = 0; k < cols; k += 16) {
      const int n = std::min(16, cols - k);
      __m512 v[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) v[i] = load_bf16(w + std::min(r0 + i, rows - 1) * row_stride + k, tail_mask(n));
      transpose16(v);
      for (int c = 0; c < n; ++c) _mm512_storeu_ps(tile + std::int64_t(k + c) * tile_rows + r0, v[c]);
    }
}

// The 16 bytes at p, of which only those that `bytes` names are read (the others are zero).
GPTOSS_AVX512 inline __m128i load16(const std::uint8_t* p, __mmask16 bytes) {
  return bytes == 0xffff ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)) : _mm_maskz_loadu_epi8(bytes, p);
}

// d[c] lane i = dword c of the 16 bytes at row(i), loaded as load16 does: four rows per vector,
// then their dwords gathered.
template <class Row>
GPTOSS_AVX512 inline void block_dwords(Row row, __m512i (&d)[4], __mmask16 bytes = __mmask16(0xffff)) {
  __m512i a[4];  // a[g] lane 4i + c: dword c of row 4g + i
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {  // the lane of an insert is an immediate
    a[g] = _mm512_castsi128_si512(load16(row(4 * g), bytes));
    a[g] = _mm512_inserti32x4(a[g], load16(row(4 * g + 1), bytes), 1);
    a[g] = _mm512_inserti32x4(a[g], load16(row(4 * g + 2), bytes), 2);
    a[g] = _mm512_inserti32x4(a[g], load16(row(4 * g + 3), bytes), 3);
  }
  // Dwords 0 and 1 (or 2 and 3) of 8 rows: lane 8c + i.
  const __m512i first = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
  const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(2));
  const __m512i b0 = _mm512_permutex2var_epi32(a[0], first, a[1]), b1 = _mm512_permutex2var_epi32(a[0], second, a[1]);
  const __m512i c0 = _mm512_permutex2var_epi32(a[2], first, a[3]), c1 = _mm512_permutex2var_epi32(a[2], second, a[3]);
  d[0] = _mm512_shuffle_i64x2(b0, c0, _MM_SHUFFLE(1, 0, 1, 0)), d[1] = _mm512_shuffle_i64x2(b0, c0, _MM_SHUFFLE(3, 2, 3, 2));
  d[2] = _mm512_shuffle_i64x2(b1, c1, _MM_SHUFFLE(1, 0, 1, 0)), d[3] = _mm512_shuffle_i64x2(b1, c1, _MM_SHUFFLE(3, 2, 3, 2));
}

// 16 rows of MXFP4 weights (rows(i) the index of the i-th, row_blocks blocks apart), nb blocks of
// each, into a column-major tile at out. With the rows' dwords transposed into lanes, nibble j of
// dword c is element 8c + j of every row: one shift and one table lookup per column of 16 rows,
// times the rows' scales, which are transposed the same way 16 blocks at a time.
template <class Rows>
GPTOSS_AVX512 inline void expand_mxfp4_rows(const std::uint8_t* blocks, const std::uint8_t* scales,
                                            std::int64_t row_blocks, int nb, Rows rows, float* out) {
  const __m512 table = e2m1_table();
  for (int b0 = 0; b0 < nb; b0 += 16) {
    __m512i sd[4];  // sd[c] lane i, byte j: the scale of block b0 + 4c + j of row i
    block_dwords([&](int i) { return scales + rows(i) * row_blocks + b0; }, sd, tail_mask(std::min(16, nb - b0)));
    for (int b = b0; b < std::min(nb, b0 + 16); ++b, out += mxfp4::block_elems * tile_rows) {
      const int j = b - b0;
      const __m512 scale = e8m0_floats(_mm512_and_si512(_mm512_srlv_epi32(sd[j / 4], _mm512_set1_epi32(8 * (j % 4))),
                                                        _mm512_set1_epi32(0xff)));
      __m512i d[4];
      block_dwords([&](int i) { return blocks + (rows(i) * row_blocks + b) * mxfp4::block_bytes; }, d);
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c)
#pragma GCC unroll 8
        for (int e = 0; e < 8; ++e) {
          const __m512 v = _mm512_permutexvar_ps(_mm512_srli_epi32(d[c], 4 * e), table);
          _mm512_storeu_ps(out + (8 * c + e) * tile_rows, _mm512_mul_ps(v, scale));
        }
    }
  }
}

// The tile of rows (<= tile_rows) x cols MXFP4 weights, rows row_stride values apart, column-major,
// 16 rows at a time. Past the last row the last row is read again, as in expand_bf16.
GPTOSS_AVX512 inline void expand_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t row_stride,
                                       int rows, int cols, float* tile) {
  const std::int64_t row_blocks = row_stride / mxfp4::block_elems;
  const int nb = cols / mxfp4::block_elems;
  for (int r0 = 0; r0 < rows; r0 += 16) {
    const std::uint8_t* q = blocks + r0 * row_blocks * mxfp4::block_bytes;
    const std::uint8_t* s = scales + r0 * row_blocks;
    const int last = rows - 1 - r0;
    if (last >= 15) expand_mxfp4_rows(q, s, row_blocks, nb, [](int i) { return std::int64_t(i); }, tile + r0);
    else expand_mxfp4_rows(q, s, row_blocks, nb, [last](int i) { return std::int64_t(std::min(i, last)); }, tile + r0);
  }
}

// y[t, r] (+)= the products of T tokens and H vectors of 16 rows of a column-major tile, over all
// its columns; the last vector's rows masked by `last`.
template <int H, int T>
GPTOSS_AVX512 inline void gemm_panel(const float* tile, int cols, const float* x, std::int64_t x_stride, float* y,
                                     std::int64_t y_stride, __mmask16 last, bool accumulate) {
  const __mmask16 m[2] = {H == 1 ? last : __mmask16(0xffff), last};
  __m512 acc[T][H];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h)
      acc[t][h] = accumulate ? _mm512_maskz_loadu_ps(m[h], y + t * y_stride + 16 * h) : _mm512_setzero_ps();
  for (int k = 0; k < cols; ++k) {
    __m512 w[H];
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) w[h] = _mm512_loadu_ps(tile + std::int64_t(k) * tile_rows + 16 * h);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512 xt = _mm512_set1_ps(x[t * x_stride + k]);
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) acc[t][h] = _mm512_fmadd_ps(w[h], xt, acc[t][h]);
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) _mm512_mask_storeu_ps(y + t * y_stride + 16 * h, m[h], acc[t][h]);
}

GPTOSS_AVX512 inline void gemm_rows(const float* tile, int rows, int cols, const float* x, std::int64_t x_stride,
                                    int tokens, float* y, std::int64_t y_stride, bool accumulate) {
  // 12 tokens x 2 vectors: 24 accumulators, 2 weight vectors and a broadcast in 32 registers
  const __mmask16 last = tail_mask(rows > 16 ? rows - 16 : rows);
  auto panels = [&]<int H>() {
    in_token_groups<12>(tokens, [&]<int T>(int t0) {
      gemm_panel<H, T>(tile, cols, x + t0 * x_stride, x_stride, y + t0 * y_stride, y_stride, last, accumulate);
    });
  };
  if (rows > 16) panels.template operator()<2>();
  else panels.template operator()<1>();
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
