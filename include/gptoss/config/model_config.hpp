// ModelConfig: every shape and constant of a gpt-oss model. Presets are constexpr values used as
// template arguments (Transformer<gpt_oss_20b>), so their dimensions are constants the compiler
// sees; `dynamic_config` instead takes the values from the checkpoint at run time.
#pragma once
#include <cstdint>
#include <string>

#include "gptoss/core/hd.hpp"
#include "gptoss/core/math.hpp"

namespace gptoss {

struct ModelConfig {
  int num_hidden_layers;       // L
  int num_experts;             // E
  int experts_per_token;       // k
  int vocab_size;              // V
  int hidden_size;             // H
  int intermediate_size;       // I
  float swiglu_limit;
  int head_dim;                // D
  int num_attention_heads;     // Hq
  int num_key_value_heads;     // Hkv
  int sliding_window;          // W: keys visible on sliding layers, the query's own included
  int initial_context_length;  // YaRN C0
  float rope_theta;
  float rope_scaling_factor;   // YaRN s
  float rope_ntk_alpha;
  float rope_ntk_beta;

  // A config whose layer count is 0 stands for "read from the checkpoint at run time".
  GPTOSS_HD constexpr bool is_dynamic() const { return num_hidden_layers == 0; }

  GPTOSS_HD constexpr int q_width() const { return num_attention_heads * head_dim; }
  GPTOSS_HD constexpr int kv_width() const { return num_key_value_heads * head_dim; }
  GPTOSS_HD constexpr int qkv_width() const { return q_width() + 2 * kv_width(); }
  GPTOSS_HD constexpr int heads_per_kv() const { return num_attention_heads / num_key_value_heads; }
  GPTOSS_HD constexpr bool is_sliding(int layer) const { return layer % 2 == 0; }
  // Positions past this have no RoPE angle in the reference (its table has this many rows).
  GPTOSS_HD constexpr std::int64_t max_context() const {
    return std::int64_t(double(initial_context_length) * double(rope_scaling_factor));
  }
  GPTOSS_HD constexpr math::Yarn yarn() const {
    return {head_dim, rope_theta, rope_scaling_factor, float(initial_context_length), rope_ntk_alpha, rope_ntk_beta};
  }

  // Parameters, counting each MXFP4 element as one.
  constexpr std::int64_t parameter_count() const {
    std::int64_t H = hidden_size, I = intermediate_size, E = num_experts, V = vocab_size;
    std::int64_t attn = H + std::int64_t(qkv_width()) * H + qkv_width() + num_attention_heads +
                        std::int64_t(q_width()) * H + H;
    std::int64_t mlp = H + E * H + E + E * 2 * I * H + E * 2 * I + E * H * I + E * H;
    return 2 * V * H + H + num_hidden_layers * (attn + mlp);
  }

  constexpr bool operator==(const ModelConfig&) const = default;
};

inline constexpr ModelConfig gpt_oss_20b{
    .num_hidden_layers = 24, .num_experts = 32, .experts_per_token = 4, .vocab_size = 201088,
    .hidden_size = 2880, .intermediate_size = 2880, .swiglu_limit = 7.0f, .head_dim = 64,
    .num_attention_heads = 64, .num_key_value_heads = 8, .sliding_window = 128,
    .initial_context_length = 4096, .rope_theta = 150000.0f, .rope_scaling_factor = 32.0f,
    .rope_ntk_alpha = 1.0f, .rope_ntk_beta = 32.0f};

inline constexpr ModelConfig gpt_oss_120b = [] {
  ModelConfig c = gpt_oss_20b;
  c.num_hidden_layers = 36;
  c.num_experts = 128;
  return c;
}();

// Any shape, taken from the checkpoint's config.json when it is loaded.
inline constexpr ModelConfig dynamic_config{};

static_assert(gpt_oss_20b.qkv_width() == 5120);
static_assert(gpt_oss_20b.parameter_count() == 20'914'757'184);
static_assert(gpt_oss_120b.parameter_count() == 116'829'156'672);

}  // namespace gptoss
