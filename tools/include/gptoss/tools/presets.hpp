// Model shapes for tests and tools, not part of the library: the bundled test checkpoint's, and
// every preset by name, for tools that choose a shape by name (`gptoss synth --config NAME`).
#pragma once
#include "gptoss/config/model_config.hpp"

namespace gptoss::tools {

// The shape of the bundled test checkpoint (tests/data/tiny): hidden, intermediate and q widths
// all differ, so a transposed matrix cannot go unnoticed.
inline constexpr ModelConfig tiny_test = [] {
  ModelConfig c = gpt_oss_20b;
  c.num_hidden_layers = 4;
  c.num_experts = 8;
  c.vocab_size = 1000;
  c.hidden_size = 160;
  c.intermediate_size = 96;
  c.head_dim = 32;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.sliding_window = 8;
  return c;
}();

// The tiny shape with the real o200k_harmony vocabulary, for end-to-end tests of text and chat.
inline constexpr ModelConfig tiny_harmony_test = [] {
  ModelConfig c = tiny_test;
  c.vocab_size = gpt_oss_20b.vocab_size;
  return c;
}();

struct NamedConfig {
  const char* name;
  ModelConfig config;
};
inline constexpr NamedConfig named_configs[] = {
    {"gpt-oss-20b", gpt_oss_20b}, {"gpt-oss-120b", gpt_oss_120b}, {"tiny", tiny_test}, {"tiny-harmony", tiny_harmony_test}};

}  // namespace gptoss::tools
