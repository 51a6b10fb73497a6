// The per-element and per-row math of gpt-oss, shared by the host and the CUDA backend.
// Every function here is the single source of truth for its formula (see spec sections noted).
#pragma once
#include <cmath>

#include "gptoss/core/hd.hpp"

namespace gptoss::math {

inline constexpr float rms_norm_eps = 1e-5f;  // inside the square root
inline constexpr float swiglu_alpha = 1.702f;

// Clamped SwiGLU of one intermediate unit: gate clamped from above only, linear input clamped
// on both sides, and the +1 on the linear side.
GPTOSS_HD inline float swiglu(float gate, float linear, float limit) {
  float a = fminf(gate, limit);
  float b = fminf(fmaxf(linear, -limit), limit);
  return a / (1.0f + expf(-swiglu_alpha * a)) * (b + 1.0f);
}

// 1 / sqrt(mean(x^2) + eps) for a row whose sum of squares is given.
GPTOSS_HD inline float rms_inverse(float sum_of_squares, int n) {
  return 1.0f / sqrtf(sum_of_squares / float(n) + rms_norm_eps);
}

// YaRN-scaled RoPE (spec 3.3): the per-frequency inverse frequency and the concentration.
struct Yarn {
  int head_dim;
  float theta;           // rope_theta
  float scale;           // rope_scaling_factor s
  float initial_context; // C0
  float alpha;           // rope_ntk_alpha (slow boundary, sets `high`)
  float beta;            // rope_ntk_beta (fast boundary, sets `low`)

  GPTOSS_HD float concentration() const { return scale > 1.0f ? 0.1f * logf(scale) + 1.0f : 1.0f; }

  // Inverse frequency of pair i in [0, head_dim/2), in float32 as the reference computes it.
  GPTOSS_HD float inv_freq(int i) const {
    float freq = powf(theta, float(2 * i) / float(head_dim));
    if (scale <= 1.0f) return 1.0f / freq;
    // The boundaries are fractional (not rounded), computed in double as the reference does.
    double d_half = head_dim / 2.0, two_pi = 6.283185307179586;
    float low = float(d_half * log(initial_context / (beta * two_pi)) / log(double(theta)));
    float high = float(d_half * log(initial_context / (alpha * two_pi)) / log(double(theta)));
    float ramp = fminf(fmaxf((float(i) - low) / (high - low), 0.0f), 1.0f);
    float interpolation = 1.0f / (scale * freq);
    float extrapolation = 1.0f / freq;
    return interpolation * ramp + extrapolation * (1.0f - ramp);
  }
};

// Rotates one head vector in place at a position, pairing element i with i + D/2. cos_sin holds
// c*cos(angle_i), c*sin(angle_i) interleaved for i in [0, D/2).
GPTOSS_HD inline void rope_rotate(float* z, const float* cos_sin, int head_dim) {
  int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    float z1 = z[i], z2 = z[i + half];
    z[i] = z1 * c - z2 * s;
    z[i + half] = z2 * c + z1 * s;
  }
}

// Fills cos_sin for one position: the angle is float32(position) * inv_freq rounded to float32,
// exactly as the reference does (spec pitfall 23).
GPTOSS_HD inline void rope_table_row(const Yarn& y, const float* inv_freq, int position, float* cos_sin) {
  float c = y.concentration();
  for (int i = 0; i < y.head_dim / 2; ++i) {
    float angle = float(position) * inv_freq[i];
    cos_sin[2 * i] = c * cosf(angle);
    cos_sin[2 * i + 1] = c * sinf(angle);
  }
}

// Online softmax with an attention sink (spec 3.3): the running max starts at the sink logit and
// the running sum at exp(sink - sink) = 1, so the sink only enlarges the denominator.
struct SinkSoftmax {
  float max;
  float sum;

  GPTOSS_HD static SinkSoftmax start(float sink) { return {sink, 1.0f}; }

  // Adds one logit; returns the factor by which earlier accumulated values must be rescaled
  // and writes the new logit's unnormalised weight.
  GPTOSS_HD float add(float logit, float& weight) {
    if (logit > max) {
      float rescale = expf(max - logit);
      sum = sum * rescale + 1.0f;
      max = logit;
      weight = 1.0f;
      return rescale;
    }
    weight = expf(logit - max);
    sum += weight;
    return 1.0f;
  }
};

// MoE routing (spec 3.4): the k largest router logits in descending order (the lower expert index
// first among equal logits), and the softmax over those k logits only.
GPTOSS_HD inline void route_top_k(const float* logits, int experts, int k, int* chosen, float* weights) {
  for (int r = 0; r < k; ++r) chosen[r] = -1;
  for (int e = 0; e < experts; ++e) {
    // Insertion into the sorted list of the best so far; strict > keeps the lower index first.
    int r = k;
    while (r > 0 && (chosen[r - 1] < 0 || logits[e] > logits[chosen[r - 1]])) --r;
    if (r == k) continue;
    for (int s = k - 1; s > r; --s) chosen[s] = chosen[s - 1];
    chosen[r] = e;
  }
  float top = logits[chosen[0]], sum = 0.0f;
  for (int r = 0; r < k; ++r) sum += (weights[r] = expf(logits[chosen[r]] - top));
  for (int r = 0; r < k; ++r) weights[r] /= sum;
}

}  // namespace gptoss::math
