// bfloat16: the upper 16 bits of an IEEE float32. Weights are stored and kept in this form;
// arithmetic widens them exactly to float.
#pragma once
#include <bit>
#include <cstdint>

#include "gptoss/core/hd.hpp"

namespace gptoss {

GPTOSS_HD inline float float_from_bits(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return std::bit_cast<float>(u);
#endif
}

GPTOSS_HD inline std::uint32_t bits_of_float(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  return std::bit_cast<std::uint32_t>(f);
#endif
}

struct bf16 {
  std::uint16_t bits;
};
static_assert(sizeof(bf16) == 2);

GPTOSS_HD inline float to_float(bf16 x) {
  return float_from_bits(std::uint32_t(x.bits) << 16);
}

// Round to nearest, ties to even; NaN stays NaN (quiet).
GPTOSS_HD inline bf16 to_bf16(float f) {
  std::uint32_t u = bits_of_float(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) return bf16{std::uint16_t((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{std::uint16_t(u >> 16)};
}

}  // namespace gptoss
