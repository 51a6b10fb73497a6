// gptoss info: what a checkpoint holds.
#include <fmt/core.h>

#include "model_loader.hpp"

namespace gptoss::cli {
namespace {

int run_info(const Args& args) {
  auto model = load_model(args);
  const ModelConfig& c = model->config();
  const io::Checkpoint& ck = model->checkpoint();
  fmt::print("model:        {}\n", ck.dir().string());
  fmt::print("layout:       {}\n", layout_name(ck.layout()));
  fmt::print("compiled:     {}\n", model->compiled_config() ? "yes (a preset of this program)" : "no (shape read at run time)");
  fmt::print("layers:       {} ({} sliding, window {})\n", c.num_hidden_layers, (c.num_hidden_layers + 1) / 2, c.sliding_window);
  fmt::print("experts:      {} (top {})\n", c.num_experts, c.experts_per_token);
  fmt::print("hidden:       {}  intermediate: {}\n", c.hidden_size, c.intermediate_size);
  fmt::print("attention:    {} query heads, {} key/value heads, head dim {}\n", c.num_attention_heads, c.num_key_value_heads, c.head_dim);
  fmt::print("vocabulary:   {}\n", c.vocab_size);
  fmt::print("context:      {} tokens (YaRN x{} of {})\n", c.max_context(), c.rope_scaling_factor, c.initial_context_length);
  fmt::print("parameters:   {}\n", c.parameter_count());
  fmt::print("weight bytes: {} ({:.2f} GiB) in {} tensors\n", ck.weight_bytes(), double(ck.weight_bytes()) / (1 << 30), ck.tensors().size());
  fmt::print("threads:      {}\n", model->threads());
  return 0;
}

const Register reg{{"info", "describe a checkpoint: config, layout, parameters, bytes",
                    "usage: gptoss info --model DIR [--threads N]\n\n" + model_options_usage,
                    {}, {"model", "threads"}, run_info}};

}  // namespace
}  // namespace gptoss::cli
