// RMSNorm (spec 3.2): y = x / sqrt(mean(x^2) + eps) * g, all in float32.
#pragma once
#include <cstdint>

#include "gptoss/core/math.hpp"
#include "gptoss/core/tensor.hpp"

namespace gptoss::ops {

inline void rms_norm(const float* x, const Bf16Vector& gain, float* y) {
  const int n = gain.size;
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += x[i] * x[i];
  const float inv = math::rms_inverse(sum, n);
  for (int i = 0; i < n; ++i) y[i] = x[i] * inv * gain[i];
}

inline void rms_norm_rows(const float* x, std::int64_t rows, const Bf16Vector& gain, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) rms_norm(x + r * gain.size, gain, y + r * gain.size);
}

}  // namespace gptoss::ops
