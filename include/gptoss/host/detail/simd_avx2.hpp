// The host kernels for AVX2 + FMA (x86-64-v3), compiled for that target function by function;
// kernels.hpp calls them only when the CPU has the instructions. Each implements the contract of
// its namesake in simd_scalar.hpp. MXFP4 codes are looked up with vpshufb as the two bytes of
// their E2M1 values in bf16; the GEMVs read their activations in orders of their own
// (arrange_bf16, arrange_mxfp4) so that weights widen with the fewest shuffles.
#pragma once
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/host/detail/simd_scalar.hpp"
#include "gptoss/host/detail/gemm_blocks.hpp"
#include "gptoss/host/detail/spread_prefetch.hpp"

#define GPTOSS_HAVE_AVX2_KERNELS 1
#define GPTOSS_AVX2 __attribute__((target("avx2,fma")))
// For the small steps of the kernels, inlined before the compiler decides what lives in registers.
#define GPTOSS_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace gptoss::host::detail::avx2 {

// Rows stream one at a time, so that a matrix is read as one sequential stream, which the hardware
// prefetcher follows, and each 64-byte line is also prefetched a little ahead. Measured on one
// Zen 3 core reading from DRAM: MXFP4 two rows at a time with a prefetch 16 rows ahead ~4 GB/s, one
// row ~6.5-7.5, with a prefetch 4 KB ahead ~7-8; bf16 ~9 GB/s, 1 KB ahead ~9.5-10.5.
inline constexpr int bf16_prefetch_bytes = 1024;
inline constexpr int mxfp4_prefetch_bytes = 4096;

// Keeps v in a register: without it, GCC's tuning for Zen 3 folds a load shared by several FMAs
// into each of them, and the loads, not the FMAs, then limit the GEMM (measured: half the speed).
GPTOSS_AVX2_INLINE void in_register(__m256& v) { asm("" : "+x"(v)); }

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

// bf16 rows: 8 dwords hold 16 weights, the even ones in their low halves and the odd ones in their
// high halves. A 16-bit shift widens the even ones and a mask the odd ones, both exactly, so the
// activations are arranged to match: in each group of 16, the 8 even elements, then the 8 odd ones
// (a shorter remainder stays in order). 4 operations per 16 weights instead of 6 with vpmovzxwd.
GPTOSS_AVX2 inline void arrange_bf16(const float* x, int cols, float* out) {
  int k = 0;
  for (; k + 16 <= cols; k += 16)
    for (int i = 0; i < 8; ++i) out[k + i] = x[k + 2 * i], out[k + 8 + i] = x[k + 2 * i + 1];
  for (; k < cols; ++k) out[k] = x[k];
}

// acc_a, acc_b plus the products of the 16 bf16 weights at w with their arranged activations at xa.
GPTOSS_AVX2_INLINE void bf16_dot16(const bf16* w, const float* xa, __m256& acc_a, __m256& acc_b) {
  const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  acc_a = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(d, 16)), _mm256_loadu_ps(xa), acc_a);
  acc_b = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(d, _mm256_set1_epi32(int(0xffff0000u)))),
                          _mm256_loadu_ps(xa + 8), acc_b);
}

GPTOSS_AVX2 inline float gemv_bf16_row(const bf16* w, int cols, const float* xa) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;  // 4 independent FMA chains
  int k = 0;
  for (; k + 32 <= cols; k += 32) {  // one 64-byte line
    _mm_prefetch(reinterpret_cast<const char*>(w + k) + bf16_prefetch_bytes, _MM_HINT_T0);
    bf16_dot16(w + k, xa + k, a0, a1), bf16_dot16(w + k + 16, xa + k + 16, a2, a3);
  }
  if (k + 16 <= cols) bf16_dot16(w + k, xa + k, a0, a1), k += 16;
  float tail = 0.0f;
  for (; k < cols; ++k) tail += to_float(w[k]) * xa[k];
  return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + tail;
}

GPTOSS_AVX2 inline void gemv_bf16(const bf16* w, std::int64_t rows, int cols, const float* xa, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) y[r] = gemv_bf16_row(w + r * cols, cols, xa);
}

// MXFP4 rows: two blocks (32 bytes) per step, one in each 128-bit lane. The 64 nibbles are looked
// up with vpshufb in two 16-byte tables, the high and the low bytes of each E2M1 value as bf16
// (every E2M1 value is exact in bf16), and paired into 16-bit lanes with vpunpck; then, as for
// bf16 rows, a shift widens the even 16-bit lanes and a mask the odd ones. 19 shuffles, shifts and
// masks per 64 weights, where a lookup with vpermps needs 48 (and float16 tables with vcvtph2ps,
// whose conversions take two operations each, measured slower).
//
// The values come out in this order, which the activations are arranged to follow: vector
// v = 4 p + u (p = 0 for the low nibbles, 1 for the high ones; u = 0..3), lane L (the block of
// the pair), float i holds byte j = 8 (u / 2) + 2 i + u % 2 of the block, element 2 j + p. An odd
// last block is left as split_pairs lays it out and summed by scalar code.
GPTOSS_AVX2 inline void arrange_mxfp4(const float* x, int cols, float* out) {
  const int nb = cols / mxfp4::block_elems;
  int b = 0;
  for (; b + 2 <= nb; b += 2) {
    const float* xb = x + b * mxfp4::block_elems;
    float* o = out + b * mxfp4::block_elems;
    for (int v = 0; v < 8; ++v)
      for (int lane = 0; lane < 2; ++lane)
        for (int i = 0; i < 4; ++i) {
          const int p = v / 4, u = v % 4, j = 8 * (u / 2) + 2 * i + u % 2;
          o[v * 8 + lane * 4 + i] = xb[lane * mxfp4::block_elems + 2 * j + p];
        }
  }
  if (b < nb) split_pairs(x + b * mxfp4::block_elems, mxfp4::block_elems, out + b * mxfp4::block_elems);
}

// The high and the low bytes of the 16 E2M1 values as bf16 (0, 0.5, 1, 1.5, 2, 3, 4, 6 and their
// negatives), in both 128-bit lanes.
struct E2m1Bytes {
  __m256i hi, lo;
};
GPTOSS_AVX2_INLINE E2m1Bytes e2m1_bytes() {
  const __m128i hi = _mm_setr_epi8(0x00, 0x3f, 0x3f, 0x3f, 0x40, 0x40, 0x40, 0x40, char(0x80), char(0xbf), char(0xbf),
                                   char(0xbf), char(0xc0), char(0xc0), char(0xc0), char(0xc0));
  const __m128i lo = _mm_setr_epi8(0x00, 0x00, char(0x80), char(0xc0), 0x00, 0x40, char(0x80), char(0xc0), 0x00, 0x00,
                                   char(0x80), char(0xc0), 0x00, 0x40, char(0x80), char(0xc0));
  return {_mm256_broadcastsi128_si256(hi), _mm256_broadcastsi128_si256(lo)};
}

// The products of 32 codes (each < 16, one per byte) with their 32 activations at xp, summed into
// 8 lanes: lanes 0-3 from the pair's first block, 4-7 from its second.
GPTOSS_AVX2_INLINE __m256 dot32(const E2m1Bytes& t, __m256i codes, const float* xp) {
  const __m256i hi = _mm256_shuffle_epi8(t.hi, codes), lo = _mm256_shuffle_epi8(t.lo, codes);
  const __m256i w0 = _mm256_unpacklo_epi8(lo, hi), w1 = _mm256_unpackhi_epi8(lo, hi);
  const __m256i odd = _mm256_set1_epi32(int(0xffff0000u));
  const __m256 a = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(w0, 16)), _mm256_loadu_ps(xp));
  const __m256 b = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_and_si256(w0, odd)), _mm256_loadu_ps(xp + 8));
  return _mm256_add_ps(_mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(w1, 16)), _mm256_loadu_ps(xp + 16), a),
                       _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(w1, odd)), _mm256_loadu_ps(xp + 24), b));
}

// acc plus the products of the pair of blocks at q with their activations at xp, each block's sum
// times its scale (lanes 0-3 of scale the first block's, 4-7 the second's).
GPTOSS_AVX2_INLINE __m256 pair_dot(const E2m1Bytes& t, const std::uint8_t* q, const float* xp, __m256 scale, __m256 acc) {
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m256 even = dot32(t, _mm256_and_si256(bytes, nibble), xp);
  const __m256 odd = dot32(t, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble), xp + 32);
  return _mm256_fmadd_ps(_mm256_add_ps(even, odd), scale, acc);
}

// The E8M0 scales of up to 8 blocks as floats 2^(s-127) (the byte 0 is the subnormal 2^-127),
// spread into 4 vectors, one per pair of blocks.
GPTOSS_AVX2_INLINE void pair_scales(const std::uint8_t* s, int n, __m256 out[4]) {
  std::uint64_t bytes = 0;
  if (n == 8) std::memcpy(&bytes, s, 8);
  else for (int i = 0; i < n; ++i) bytes |= std::uint64_t(s[i]) << (8 * i);
  const __m256i b = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(std::int64_t(bytes)));
  const __m256 f = _mm256_castsi256_ps(_mm256_blendv_epi8(_mm256_slli_epi32(b, 23), _mm256_set1_epi32(0x00400000),
                                                          _mm256_cmpeq_epi32(b, _mm256_setzero_si256())));
  out[0] = _mm256_permutevar8x32_ps(f, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
  out[1] = _mm256_permutevar8x32_ps(f, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3));
  out[2] = _mm256_permutevar8x32_ps(f, _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5));
  out[3] = _mm256_permutevar8x32_ps(f, _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7));
}

// One row, 8 blocks (128 bytes, two cache lines, one prefetch each) per step, in two chains.
GPTOSS_AVX2 inline float gemv_mxfp4_row(const std::uint8_t* q, const std::uint8_t* s, int nb, const float* xa) {
  const E2m1Bytes table = e2m1_bytes();
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), scale[4];
  int b = 0;
  for (; b + 8 <= nb; b += 8) {
    const std::uint8_t* qb = q + b * mxfp4::block_bytes;
    const float* xb = xa + b * mxfp4::block_elems;
    _mm_prefetch(reinterpret_cast<const char*>(qb + mxfp4_prefetch_bytes), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(qb + 64 + mxfp4_prefetch_bytes), _MM_HINT_T0);
    pair_scales(s + b, 8, scale);
    acc0 = pair_dot(table, qb, xb, scale[0], acc0);
    acc1 = pair_dot(table, qb + 32, xb + 64, scale[1], acc1);
    acc0 = pair_dot(table, qb + 64, xb + 128, scale[2], acc0);
    acc1 = pair_dot(table, qb + 96, xb + 192, scale[3], acc1);
  }
  if (b + 2 <= nb) {
    pair_scales(s + b, nb - b, scale);
    for (int i = 0; b + 2 <= nb; b += 2, ++i)
      acc0 = pair_dot(table, q + b * mxfp4::block_bytes, xa + b * mxfp4::block_elems, scale[i], acc0);
  }
  float y = hsum(_mm256_add_ps(acc0, acc1));
  if (b < nb) {  // the odd last block, laid out as split_pairs: summed unscaled, then times the scale
    const std::uint8_t* qb = q + b * mxfp4::block_bytes;
    const float* xb = xa + b * mxfp4::block_elems;
    float part = 0.0f;
    for (int j = 0; j < mxfp4::block_bytes; ++j)
      part += mxfp4::e2m1_value(qb[j] & 15) * xb[j] + mxfp4::e2m1_value(qb[j] >> 4) * xb[16 + j];
    y += part * mxfp4::e8m0_value(s[b]);
  }
  return y;
}

GPTOSS_AVX2 inline void gemv_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t rows, int cols,
                                   const float* xa, float* y) {
  const int nb = cols / mxfp4::block_elems;
  for (std::int64_t r = 0; r < rows; ++r)
    y[r] = gemv_mxfp4_row(blocks + r * nb * mxfp4::block_bytes, scales + r * nb, nb, xa);
}

GPTOSS_AVX2 inline void widen_bf16(const bf16* w, std::int64_t n, float* out) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_bf16(w + i));
  for (; i < n; ++i) out[i] = to_float(w[i]);
}

// acc[r][t] = 8-wide partial sums of the dot products of rows a[r] and b[t] over n columns: the R
// rows of a held in registers while each row of b is loaded once for all of them. Loads are
// unmasked but for the last step of a length that is not a multiple of 8.
template <int R, int T>
GPTOSS_AVX2_INLINE void dot_tile(const float* const (&a)[R], const float* const (&b)[T], int n, __m256 (&acc)[R][T]) {
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= n; k += 8) {
    __m256 av[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) av[r] = _mm256_loadu_ps(a[r] + k), in_register(av[r]);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      __m256 bv = _mm256_loadu_ps(b[t] + k);
      in_register(bv);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(av[r], bv, acc[r][t]);
    }
  }
  if (k < n) {
    const __m256i m = tail_mask(n - k);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const __m256 bv = _mm256_maskload_ps(b[t] + k, m);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(_mm256_maskload_ps(a[r] + k, m), bv, acc[r][t]);
    }
  }
}

// No prefill tiles: a column-major tile (a column's rows in lanes, multiplied by each token's
// activation broadcast) sums each product in another order than the GEMVs above, so a token's
// outputs would depend on how many tokens share its call; kernels.hpp multiplies many tokens with
// the GEMVs, token by token, instead. (Tiles that follow the GEMVs' orders remain to be written.)

// The sums of the 8 lanes of a, b, c and d.
GPTOSS_AVX2_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));  // per 128-bit lane
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// The scores of 4 keys for H (<= 3) query heads, as a 3 x 4 GEMM tile (12 FMAs to 7 loads). Past
// the last key the last key is read again (the caller masks those lanes).
template <int H>
GPTOSS_AVX2 inline void scores_of_4_keys(const float* q, int dim, const float* k, std::int64_t stride, int keys,
                                         __m128 out[H]) {
  const float* heads[H];
#pragma GCC unroll 4
  for (int h = 0; h < H; ++h) heads[h] = q + h * dim;
  const float* const rows[4] = {k, k + std::min(1, keys - 1) * stride, k + std::min(2, keys - 1) * stride,
                                k + std::min(3, keys - 1) * stride};
  __m256 acc[H][4];
  dot_tile<H, 4>(heads, rows, dim, acc);
#pragma GCC unroll 4
  for (int h = 0; h < H; ++h) out[h] = hsum4(acc[h][0], acc[h][1], acc[h][2], acc[h][3]);
}

// Heads i0 .. i0 + H - 1 over all n keys, one step of `next` per 4 keys. Whole groups of 4 keys
// take plain stores and maxima: masked stores are slow on AMD cores, so only a last, partial group
// uses them.
template <int H>
GPTOSS_AVX2 inline void scores_of_heads(const float* q, int dim, const float* k, std::int64_t stride, int n, float scale,
                                        float* s, int s_stride, float* block_max, SpreadPrefetch& next) {
  __m128 m[H];
#pragma GCC unroll 4
  for (int h = 0; h < H; ++h) m[h] = _mm_set1_ps(-INFINITY);
  for (int j0 = 0; j0 < n; j0 += 4) {
    const int keys = std::min(4, n - j0);
    next.step();
    __m128 sv[H];
    scores_of_4_keys<H>(q, dim, k + j0 * stride, stride, keys, sv);
    const __m128i jm = _mm_cmpgt_epi32(_mm_set1_epi32(keys), _mm_setr_epi32(0, 1, 2, 3));
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) {
      sv[h] = _mm_mul_ps(sv[h], _mm_set1_ps(scale));
      if (keys == 4) {
        _mm_storeu_ps(s + h * s_stride + j0, sv[h]);
        m[h] = _mm_max_ps(m[h], sv[h]);
      } else {
        _mm_maskstore_ps(s + h * s_stride + j0, jm, sv[h]);
        m[h] = _mm_max_ps(m[h], _mm_blendv_ps(m[h], sv[h], _mm_castsi128_ps(jm)));
      }
    }
  }
#pragma GCC unroll 4
  for (int h = 0; h < H; ++h) {
    __m128 v = _mm_max_ps(m[h], _mm_movehl_ps(m[h], m[h]));
    block_max[h] = _mm_cvtss_f32(_mm_max_ss(v, _mm_movehdup_ps(v)));
  }
}

// The keys n rows on (the next block, where a run of the cache continues) are prefetched as these
// are scored, spread over every pass of the heads: the hardware prefetcher alone left decode
// attention waiting on memory at ~3.5 GB/s on Zen 3.
GPTOSS_AVX2 inline void scores(const float* q, int group, int dim, const float* k, std::int64_t stride, int n,
                               float scale, float* s, int s_stride, float* block_max) {
  SpreadPrefetch next(k + n * stride, n, stride, dim, std::int64_t((group + 2) / 3) * ((n + 3) / 4));
  int i = 0;
  for (; i + 3 <= group; i += 3)
    scores_of_heads<3>(q + i * dim, dim, k, stride, n, scale, s + i * s_stride, s_stride, block_max + i, next);
  if (group - i == 2)
    scores_of_heads<2>(q + i * dim, dim, k, stride, n, scale, s + i * s_stride, s_stride, block_max + i, next);
  if (group - i == 1)
    scores_of_heads<1>(q + i * dim, dim, k, stride, n, scale, s + i * s_stride, s_stride, block_max + i, next);
}

// exp(x) for x <= 0 as in simd_avx512.hpp (the constants in simd_scalar.hpp). Without vscalefps,
// 2^k is built in the exponent field, which holds only normal numbers: below -87.3 (under the
// smallest normal float, 1.2e-38) the result is 0.
GPTOSS_AVX2 inline __m256 exp_nonpositive(__m256 x) {
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_LT_OQ);
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(exp_log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(exp_ln2_lo), _mm256_fnmadd_ps(k, _mm256_set1_ps(exp_ln2_hi), x));
  __m256 p = _mm256_set1_ps(exp_taylor[0]);
#pragma GCC unroll 8
  for (int i = 1; i < 8; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(exp_taylor[i]));
  const __m256i two_k = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(two_k)));
}

GPTOSS_AVX2 inline float exp_shifted(float* s, int n, float shift) {
  const __m256 sh = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) {  // unmasked: masked stores are slow on AMD cores
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(s + j), sh));
    _mm256_storeu_ps(s + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (j < n) {
    const __m256i m = tail_mask(n - j);
    const __m256 e = _mm256_and_ps(exp_nonpositive(_mm256_sub_ps(_mm256_maskload_ps(s + j, m), sh)), _mm256_castsi256_ps(m));
    _mm256_maskstore_ps(s + j, m, e);
    sum = _mm256_add_ps(sum, e);
  }
  return hsum(sum);
}

template <bool Masked>
GPTOSS_AVX2_INLINE __m256 load_part(const float* at, __m256i m) {
  if constexpr (Masked) return _mm256_maskload_ps(at, m);
  else return _mm256_loadu_ps(at);
}
template <bool Masked>
GPTOSS_AVX2_INLINE void store_part(float* at, __m256i m, __m256 v) {
  if constexpr (Masked) _mm256_maskstore_ps(at, m, v);
  else _mm256_storeu_ps(at, v);
}

// H heads at a time over 8 C dimensions: H x C accumulators, C value vectors and the weight in
// registers. FMAs take 4 cycles and two issue per cycle, so 8 independent accumulators only just
// fill the pipes; 6 heads x 16 dimensions (12 of them) measured ~1.3x faster than 2 x 32 on Zen 3.
// Masked: whether dim may leave part of the 8 C unused (the masks take C more registers). One step
// of `next` per key of each pass over the values.
template <int H, int C, bool Masked>
GPTOSS_AVX2 inline void accumulate_heads(const float* p, int p_stride, int dim, const float* v, std::int64_t stride,
                                         int n, const float* rescale, float* acc, SpreadPrefetch& next) {
  for (int d = 0; d < dim; d += 8 * C) {
    __m256i dm[C];
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) dm[c] = tail_mask(Masked ? std::clamp(dim - d - 8 * c, 0, 8) : 8);
    __m256 a[H][C];
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c)
        a[h][c] = _mm256_mul_ps(load_part<Masked>(acc + h * dim + d + 8 * c, dm[c]), _mm256_set1_ps(rescale[h]));
    for (int j = 0; j < n; ++j) {
      next.step();
      __m256 vj[C];
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) vj[c] = load_part<Masked>(v + j * stride + d + 8 * c, dm[c]), in_register(vj[c]);
#pragma GCC unroll 8
      for (int h = 0; h < H; ++h) {
        const __m256 pj = _mm256_set1_ps(p[h * p_stride + j]);
#pragma GCC unroll 16
        for (int c = 0; c < C; ++c) a[h][c] = _mm256_fmadd_ps(pj, vj[c], a[h][c]);
      }
    }
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h)
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) store_part<Masked>(acc + h * dim + d + 8 * c, dm[c], a[h][c]);
  }
}

// Heads i .. group - 1, fewer than 6, over 16 dimensions at a time (dim a multiple of 16); 1 or 2
// heads over 32 where dim allows, to keep 8 accumulators busy.
GPTOSS_AVX2 inline void accumulate_rest(const float* p, int p_stride, int heads, int dim, const float* v,
                                        std::int64_t stride, int n, const float* rescale, float* acc,
                                        SpreadPrefetch& next) {
  const bool wide = dim % 32 == 0;
  switch (heads) {
    case 5: accumulate_heads<5, 2, false>(p, p_stride, dim, v, stride, n, rescale, acc, next); break;
    case 4: accumulate_heads<4, 2, false>(p, p_stride, dim, v, stride, n, rescale, acc, next); break;
    case 3: accumulate_heads<3, 2, false>(p, p_stride, dim, v, stride, n, rescale, acc, next); break;
    case 2:
      if (wide) accumulate_heads<2, 4, false>(p, p_stride, dim, v, stride, n, rescale, acc, next);
      else accumulate_heads<2, 2, false>(p, p_stride, dim, v, stride, n, rescale, acc, next);
      break;
    case 1:
      if (wide) accumulate_heads<1, 4, false>(p, p_stride, dim, v, stride, n, rescale, acc, next);
      else accumulate_heads<1, 2, false>(p, p_stride, dim, v, stride, n, rescale, acc, next);
      break;
    default: break;
  }
}

// The passes over the values that accumulate makes (each of all the block's keys), as it and
// accumulate_rest choose their tiles.
inline int value_passes(int group, int dim) {
  if (dim % 16 != 0) return (group + 1) / 2 * ((dim + 31) / 32);
  const int rest = group % 6;
  return group / 6 * (dim / 16) + (rest == 0 ? 0 : rest <= 2 && dim % 32 == 0 ? dim / 32 : dim / 16);
}

// The values n rows on (the next block) are prefetched as these are used, spread over every pass.
GPTOSS_AVX2 inline void accumulate(const float* p, int p_stride, int group, int dim, const float* v,
                                   std::int64_t stride, int n, const float* rescale, float* acc) {
  SpreadPrefetch next(v + n * stride, n, stride, dim, std::int64_t(value_passes(group, dim)) * n);
  int i = 0;
  if (dim % 16 == 0) {
    for (; i + 6 <= group; i += 6)
      accumulate_heads<6, 2, false>(p + i * p_stride, p_stride, dim, v, stride, n, rescale + i, acc + i * dim, next);
    accumulate_rest(p + i * p_stride, p_stride, group - i, dim, v, stride, n, rescale + i, acc + i * dim, next);
    return;
  }
  for (; i + 2 <= group; i += 2)
    accumulate_heads<2, 4, true>(p + i * p_stride, p_stride, dim, v, stride, n, rescale + i, acc + i * dim, next);
  if (i < group)
    accumulate_heads<1, 4, true>(p + i * p_stride, p_stride, dim, v, stride, n, rescale + i, acc + i * dim, next);
}

}  // namespace gptoss::host::detail::avx2

#endif
