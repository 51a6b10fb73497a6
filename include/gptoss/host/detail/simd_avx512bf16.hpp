// Precision::bf16 with AVX512-BF16: the activations rounded to bf16 and packed two to a 32-bit
// lane, multiplied with bf16 weights by vdpbf16ps (products of bf16 values, float32 sums). The
// reference they are tested against is the scalar GEMV fed bf16-rounded activations
// (rounded_to_bf16 in simd_scalar.hpp): the same products, summed in another order.
//
// vdpbf16ps adds lane i's two products (2i+1, then 2i) to its accumulator, and treats denormal
// inputs and results as zero. MXFP4 weights are decoded to bf16 with their block's scale folded in
// (E2M1 values times a power of two are exact in bf16) wherever the result stays a normal bf16:
// scale bytes 2..252. Blocks with other scales (none in the released checkpoints) are multiplied
// unscaled and their block sum is scaled in float32, so that no weight is flushed to zero.
#pragma once
#include "gptoss/host/detail/simd_avx512.hpp"

#if defined(GPTOSS_HAVE_AVX512_KERNELS)
#include <cstring>

#define GPTOSS_HAVE_AVX512BF16_KERNELS 1
#define GPTOSS_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,bmi2")))

namespace gptoss::host::detail::avx512bf16 {

using avx512::dot_result;
using avx512::prefetch_ahead;

GPTOSS_AVX512BF16 inline __m512 dot(__m512 acc, __m512i x, __m512i w) {
  return _mm512_dpbf16_ps(acc, (__m512bh)x, (__m512bh)w);
}
GPTOSS_AVX512BF16 inline __m512i load32(const bf16* p) { return _mm512_loadu_si512(p); }
// Up to 32 values, zero past n (zero products leave a sum unchanged).
GPTOSS_AVX512BF16 inline __m512i load32(const bf16* p, int n) {
  return _mm512_maskz_loadu_epi16(n >= 32 ? ~__mmask32(0) : __mmask32((1u << n) - 1), p);
}

// The arranged activations: each value rounded to bf16 as to_bf16 rounds it, packed in column
// order into the caller's float buffer (the first cols / 2 floats, rounded up).
GPTOSS_AVX512BF16 inline void pack_bf16(const float* x, int cols, float* out) {
  bf16* o = reinterpret_cast<bf16*>(out);
  int i = 0;
  for (; i + 16 <= cols; i += 16) {
    const __m512i u = _mm512_loadu_si512(x + i);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    // NaN stays a quiet NaN, as to_bf16 keeps it.
    const __mmask16 nan = _mm512_cmp_ps_mask(_mm512_castsi512_ps(u), _mm512_castsi512_ps(u), _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), _mm512_cvtepi32_epi16(r));
  }
  for (; i < cols; ++i) o[i] = to_bf16(x[i]);
}

// The order of every product of a row and a token, shared by the GEMVs and gemm_rows: the row's
// columns 32 at a time (one MXFP4 block), chunk c into accumulator c % 2, a short last chunk
// zero-filled, and the result hsum(acc[0] + acc[1]).
GPTOSS_AVX512BF16 inline float gemv_bf16_row(const bf16* w, int cols, const bf16* x) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int k = 0;
  for (; k + 64 <= cols; k += 64) {  // two 64-byte lines
    prefetch_ahead(w + k), prefetch_ahead(w + k + 32);
    a0 = dot(a0, load32(x + k), load32(w + k));
    a1 = dot(a1, load32(x + k + 32), load32(w + k + 32));
  }
  if (k < cols) a0 = dot(a0, load32(x + k, cols - k), load32(w + k, cols - k));
  if (k + 32 < cols) a1 = dot(a1, load32(x + k + 32, cols - k - 32), load32(w + k + 32, cols - k - 32));
  return dot_result(a0, a1);
}

GPTOSS_AVX512BF16 inline void gemv_bf16(const bf16* w, std::int64_t rows, int cols, const float* x, float* y) {
  const bf16* xb = reinterpret_cast<const bf16*>(x);
  for (std::int64_t r = 0; r < rows; ++r) y[r] = gemv_bf16_row(w + r * cols, cols, xb);
}

// Whether a block's scale byte can be folded into its bf16 weights: 0.5 * 2^(s-127) and
// 6 * 2^(s-127) are normal bf16 values.
inline bool foldable(std::uint8_t s) { return s >= 2 && s <= 252; }

// E2M1 codes as bf16 bits in 16-bit lanes, indexed by a lane's low 5 bits (16..31 repeat 0..15);
// the lanes of nonzero values.
GPTOSS_AVX512BF16 inline __m512i e2m1_bf16_table() {
  return _mm512_setr_epi32(0x3f000000, 0x3fc03f80, 0x40404000, 0x40c04080, 0xbf008000, 0xbfc0bf80, 0xc040c000,
                           0xc0c0c080, 0x3f000000, 0x3fc03f80, 0x40404000, 0x40c04080, 0xbf008000, 0xbfc0bf80,
                           0xc040c000, 0xc0c0c080);
}
inline constexpr __mmask32 e2m1_nonzero = 0xfefefefe;

// The scale's exponent step in both 16-bit halves of a dword, for scaled_table: 0 when not foldable.
inline std::int32_t exponent_step(std::uint8_t s) {
  const std::uint32_t e = foldable(s) ? std::uint32_t((int(s) - 127) * 128) & 0xffffu : 0;
  return std::int32_t(e | e << 16);
}
// The table times 2^(s-127): step added to each nonzero value's exponent (0 leaves it unscaled).
GPTOSS_AVX512BF16 inline __m512i scaled_table(__m512i table, std::int32_t step) {
  return _mm512_mask_add_epi16(table, e2m1_nonzero, table, _mm512_set1_epi32(step));
}

// The 32 weights of the MXFP4 block at qb as bf16 pairs in column order (byte j holds columns 2j
// and 2j + 1) from a (scaled) table: dword j holds byte j and, 12 bits up, its high nibble in the
// upper 16-bit lane, so one vpermw decodes both nibbles.
GPTOSS_AVX512BF16 inline __m512i decode_block(const std::uint8_t* qb, __m512i table) {
  const __m512i codes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qb)));
  return _mm512_permutexvar_epi16(_mm512_or_si512(codes, _mm512_slli_epi32(codes, 12)), table);
}
GPTOSS_AVX512BF16 inline __m512i decode_block(const std::uint8_t* qb, std::uint8_t s, __m512i table) {
  return decode_block(qb, scaled_table(table, exponent_step(s)));
}

// acc plus one block's products: folded in, or their sum scaled in float32.
GPTOSS_AVX512BF16 inline __m512 block_step(__m512 acc, __m512i x, __m512i w, std::uint8_t s) {
  if (foldable(s)) return dot(acc, x, w);
  return _mm512_fmadd_ps(dot(_mm512_setzero_ps(), x, w), _mm512_set1_ps(mxfp4::e8m0_value(s)), acc);
}

GPTOSS_AVX512BF16 inline float gemv_mxfp4_row(const std::uint8_t* q, const std::uint8_t* s, int nb, const bf16* x) {
  const __m512i table = e2m1_bf16_table();
  // Two blocks a step, into accumulators named by constants so that they stay in registers.
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  alignas(64) std::int32_t step[16] = {};  // broadcast from memory: no shuffle port taken
  auto block = [&](int b, int i, __m512 acc) GPTOSS_AVX512BF16 __attribute__((always_inline)) {
    const std::uint8_t* qb = q + b * mxfp4::block_bytes;
    return block_step(acc, load32(x + b * 32), decode_block(qb, scaled_table(table, step[i])), s[b]);
  };
  for (int b0 = 0; b0 < nb; b0 += 16) {  // 16 blocks: an even count, so block b goes to a[b % 2]
    const int n = std::min(16, nb - b0);
    for (int i = 0; i < n; ++i) step[i] = exponent_step(s[b0 + i]);
    int i = 0;
    for (; i + 2 <= n; i += 2) {
      if (i % 4 == 0) prefetch_ahead(q + (b0 + i) * mxfp4::block_bytes);  // one request per 64-byte line
      a0 = block(b0 + i, i, a0);
      a1 = block(b0 + i + 1, i + 1, a1);
    }
    if (i < n) a0 = block(b0 + i, i, a0);  // the row's last block
  }
  return dot_result(a0, a1);
}

GPTOSS_AVX512BF16 inline void gemv_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t rows,
                                         int cols, const float* x, float* y) {
  const int nb = cols / mxfp4::block_elems;
  const bf16* xb = reinterpret_cast<const bf16*>(x);
  for (std::int64_t r = 0; r < rows; ++r)
    y[r] = gemv_mxfp4_row(blocks + r * nb * mxfp4::block_bytes, scales + r * nb, nb, xb);
}

// Prefill tiles hold bf16 rows (row r at bf16 offset r * cols) after a header of 16 floats; MXFP4
// tiles are decoded as decode_block gives them, and when any block's scale is not foldable the
// header's first float is 1 and the tile's scale bytes follow its rows, for gemm_rows to repeat
// the GEMV's block steps. That is 16 + rows x cols / 2 floats and rows x cols / 32 bytes: within
// the tile_rows x cols floats matmul gives a tile.
inline constexpr int tile_cols = 1024;
inline constexpr int gemm_state = 32;
inline constexpr int header_floats = 16;
inline bf16* tile_rows_of(float* tile) { return reinterpret_cast<bf16*>(tile + header_floats); }
inline const bf16* tile_rows_of(const float* tile) { return reinterpret_cast<const bf16*>(tile + header_floats); }
inline std::uint8_t* tile_scales(float* tile, int cols) {
  return reinterpret_cast<std::uint8_t*>(tile + header_floats) + 2 * std::size_t(tile_rows) * cols;
}
inline const std::uint8_t* tile_scales(const float* tile, int cols) {
  return reinterpret_cast<const std::uint8_t*>(tile + header_floats) + 2 * std::size_t(tile_rows) * cols;
}

inline void expand_bf16(const bf16* w, std::int64_t row_stride, int rows, int cols, float* tile) {
  tile[0] = 0.0f;
  for (int r = 0; r < rows; ++r) std::memcpy(tile_rows_of(tile) + std::size_t(r) * cols, w + r * row_stride, 2 * std::size_t(cols));
}

GPTOSS_AVX512BF16 inline void expand_mxfp4(const std::uint8_t* blocks, const std::uint8_t* scales,
                                           std::int64_t row_stride, int rows, int cols, float* tile) {
  const std::int64_t row_blocks = row_stride / mxfp4::block_elems;
  const int nb = cols / mxfp4::block_elems;
  const __m512i table = e2m1_bf16_table();
  bool all_folded = true;
  for (int r = 0; r < rows; ++r) {
    const std::uint8_t* q = blocks + r * row_blocks * mxfp4::block_bytes;
    const std::uint8_t* s = scales + r * row_blocks;
    bf16* out = tile_rows_of(tile) + std::size_t(r) * cols;
    for (int b = 0; b < nb; ++b) {
      _mm512_storeu_si512(out + b * 32, decode_block(q + b * mxfp4::block_bytes, s[b], table));
      all_folded &= foldable(s[b]);
    }
  }
  tile[0] = all_folded ? 0.0f : 1.0f;
  if (!all_folded)
    for (int r = 0; r < rows; ++r) std::memcpy(tile_scales(tile, cols) + std::size_t(r) * nb, scales + r * row_blocks, std::size_t(nb));
}

// R rows (cols apart) times T tokens over the tile's columns, every chunk folded in (bf16 weights,
// or MXFP4 with foldable scales); accumulators from and to state as in avx512::gemm_block.
template <int R, int T>
GPTOSS_AVX512BF16 inline void gemm_block(const bf16* w, int cols, const bf16* x, std::int64_t x_stride, float* state,
                                         bool first, bool last, float* y, std::int64_t y_stride) {
  __m512 acc[T][R][2];
  avx512::gemm_start<R, T>(acc, state, first);
  int k = 0;
  for (; k + 64 <= cols; k += 64)
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m512i wv[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) wv[r] = load32(w + std::int64_t(r) * cols + k + 32 * h);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        const __m512i xv = load32(x + t * x_stride + k + 32 * h);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[t][r][h] = dot(acc[t][r][h], xv, wv[r]);
      }
    }
  // Fewer than 64 columns left, only in a row's last tile (tile_cols is a multiple of 64).
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h)
    if (k + 32 * h < cols) {
      const int kh = k + 32 * h, n = cols - kh;
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        const __m512i xv = load32(x + t * x_stride + kh, n);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[t][r][h] = dot(acc[t][r][h], xv, load32(w + std::int64_t(r) * cols + kh, n));
      }
    }
  avx512::gemm_end<R, T>(acc, state, last, y, y_stride);
}

// A tile with blocks whose scales are not folded: each row and token block by block, as the GEMV.
GPTOSS_AVX512BF16 inline void gemm_blocks_scaled(const float* tile, int rows, int cols, const bf16* x,
                                                 std::int64_t x_stride, int tokens, float* state, bool first,
                                                 bool last, float* y, std::int64_t y_stride) {
  const int nb = cols / mxfp4::block_elems;
  for (int t = 0; t < tokens; ++t)
    for (int r = 0; r < rows; ++r) {
      float* st = state + (std::int64_t(t) * tile_rows + r) * gemm_state;
      __m512 a[2];
      for (int h = 0; h < 2; ++h) a[h] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(st + 16 * h);
      const bf16* w = tile_rows_of(tile) + std::size_t(r) * cols;
      const std::uint8_t* s = tile_scales(tile, cols) + std::size_t(r) * nb;
      for (int b = 0; b < nb; ++b) a[b % 2] = block_step(a[b % 2], load32(x + t * x_stride + b * 32), load32(w + b * 32), s[b]);
      if (last) {
        y[t * y_stride + r] = dot_result(a[0], a[1]);
      } else {
        _mm512_storeu_ps(st, a[0]);
        _mm512_storeu_ps(st + 16, a[1]);
      }
    }
}

// x: the tile's columns of each token's packed activations, x_stride floats (2 x_stride bf16)
// apart. The tokens a group of 3 at a time, and for each group every 4 rows of the tile.
GPTOSS_AVX512BF16 inline void gemm_rows(const float* tile, int rows, int cols, const float* x, std::int64_t x_stride,
                                        int tokens, float* state, bool first, bool last, float* y, std::int64_t y_stride) {
  const bf16* xb = reinterpret_cast<const bf16*>(x);
  const std::int64_t xs = 2 * x_stride;
  if (tile[0] != 0.0f) {
    gemm_blocks_scaled(tile, rows, cols, xb, xs, tokens, state, first, last, y, y_stride);
    return;
  }
  const bf16* w = tile_rows_of(tile);
  in_token_groups<3>(tokens, [&]<int T>(int t0) {
    const bf16* xt = xb + t0 * xs;
    float* st = state + std::int64_t(t0) * tile_rows * gemm_state;
    float* yt = y + t0 * y_stride;
    int r = 0;
    for (; r + 4 <= rows; r += 4)
      gemm_block<4, T>(w + std::int64_t(r) * cols, cols, xt, xs, st + r * gemm_state, first, last, yt + r, y_stride);
    const bf16* wr = w + std::int64_t(r) * cols;
    switch (rows - r) {
      case 3: gemm_block<3, T>(wr, cols, xt, xs, st + r * gemm_state, first, last, yt + r, y_stride); break;
      case 2: gemm_block<2, T>(wr, cols, xt, xs, st + r * gemm_state, first, last, yt + r, y_stride); break;
      case 1: gemm_block<1, T>(wr, cols, xt, xs, st + r * gemm_state, first, last, yt + r, y_stride); break;
      default: break;
    }
  });
}

}  // namespace gptoss::host::detail::avx512bf16

#endif
