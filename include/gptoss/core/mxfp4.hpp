// MXFP4 (OCP microscaling FP4): blocks of 32 E2M1 values sharing one E8M0 power-of-two scale.
// Two values per byte, the even element in the low nibble. Only the expert weights use it.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/hd.hpp"

namespace gptoss::mxfp4 {

inline constexpr int block_elems = 32;  // values sharing one scale
inline constexpr int block_bytes = 16;  // packed bytes of one block

// E2M1 code (bit 3 sign, bits 2-1 exponent with bias 1, bit 0 mantissa) -> value: 0, 0.5, 1, 1.5,
// 2, 3, 4, 6 and their negatives. Computed from the bits rather than looked up: a table indexed at
// run time lands in a GPU thread's local memory, which made the CUDA expert kernels ~10x slower.
// Magnitude codes 2..7 are normal floats, exponent (code >> 1) - 1 and mantissa bit code & 1; codes
// 0 and 1 are the subnormal 0 and 0.5, taken apart so that no float subnormal is involved.
GPTOSS_HD inline float e2m1_value(std::uint8_t code) {
  const std::uint32_t m = code & 7u;
  const float magnitude = m < 2 ? 0.5f * float(m) : float_from_bits(((m >> 1) + 126u) << 23 | (m & 1u) << 22);
  return (code & 8) ? -magnitude : magnitude;
}

// E8M0 scale byte -> 2^(byte - 127), exactly. The byte 255 (NaN in the OCP definition) is
// rejected when a checkpoint is checked, not here: this is the innermost loop.
GPTOSS_HD inline float e8m0_value(std::uint8_t byte) {
  // The exponent field of a float32 is the same biased byte; 2^-127 is the one subnormal.
  return float_from_bits(byte == 0 ? 0x00400000u : std::uint32_t(byte) << 23);
}

// The two values packed in one byte, already scaled: {even element, odd element}.
struct pair {
  float even, odd;
};
GPTOSS_HD inline pair decode_byte(std::uint8_t byte, float scale) {
  return {e2m1_value(byte & 0x0f) * scale, e2m1_value(byte >> 4) * scale};
}

// Decodes n values (a multiple of 32) of one row: blocks holds n/2 bytes, scales n/32 bytes.
GPTOSS_HD inline void decode_row(const std::uint8_t* blocks, const std::uint8_t* scales, std::size_t n, float* out) {
  for (std::size_t b = 0; b < n / block_elems; ++b) {
    float s = e8m0_value(scales[b]);
    for (int j = 0; j < block_bytes; ++j) {
      pair p = decode_byte(blocks[b * block_bytes + j], s);
      out[b * block_elems + 2 * j] = p.even;
      out[b * block_elems + 2 * j + 1] = p.odd;
    }
  }
}

// Nearest E2M1 code of a value already divided by the block scale (ties to the even code,
// magnitudes above 6 saturate).
inline std::uint8_t e2m1_encode(float v) {
  std::uint8_t sign = std::signbit(v) ? 8 : 0;
  float a = std::fabs(v);
  std::uint8_t best = 0;
  float best_err = INFINITY;
  for (std::uint8_t c = 0; c < 8; ++c) {
    float err = std::fabs(a - e2m1_value(c));
    if (err < best_err || (err == best_err && (c & 1) == 0)) best = c, best_err = err;
  }
  return sign | best;
}

// Quantizes n values (a multiple of 32) of one row. Each block's scale is the smallest power of
// two that brings the block's largest magnitude to at most 6 (the largest E2M1 value).
inline void quantize_row(const float* in, std::size_t n, std::uint8_t* blocks, std::uint8_t* scales) {
  for (std::size_t b = 0; b < n / block_elems; ++b) {
    const float* x = in + b * block_elems;
    float amax = 0.0f;
    for (int i = 0; i < block_elems; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    int e = 0;
    if (amax > 0.0f) e = int(std::ceil(std::log2(amax / 6.0f)));
    if (e < -127) e = -127;
    if (e > 127) e = 127;
    scales[b] = std::uint8_t(e + 127);
    float inv = std::ldexp(1.0f, -e);
    for (int j = 0; j < block_bytes; ++j)
      blocks[b * block_bytes + j] =
          std::uint8_t(e2m1_encode(x[2 * j] * inv) | (e2m1_encode(x[2 * j + 1] * inv) << 4));
  }
}

}  // namespace gptoss::mxfp4
