// Rotary position embedding with YaRN scaling (spec 3.3): the inverse frequencies are computed
// once; each position's angles are float32(position) * inv_freq, as the reference computes them.
#pragma once
#include <cstdint>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/math.hpp"

namespace gptoss::ops {

class Rope {
 public:
  explicit Rope(const ModelConfig& c) : yarn_(c.yarn()), inv_freq_(c.head_dim / 2) {
    for (int i = 0; i < c.head_dim / 2; ++i) inv_freq_[i] = yarn_.inv_freq(i);
  }
  const math::Yarn& yarn() const { return yarn_; }
  const std::vector<float>& inv_freq() const { return inv_freq_; }

  // Rotates `heads` consecutive head vectors of one token at `position`; cos_sin is scratch of
  // head_dim floats.
  void apply(float* z, int heads, std::int64_t position, float* cos_sin) const {
    math::rope_table_row(yarn_, inv_freq_.data(), int(position), cos_sin);
    for (int h = 0; h < heads; ++h) math::rope_rotate(z + h * yarn_.head_dim, cos_sin, yarn_.head_dim);
  }

 private:
  math::Yarn yarn_;
  std::vector<float> inv_freq_;
};

}  // namespace gptoss::ops
