// gptoss info: what a checkpoint holds.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/core.h>

#include "gptoss/model/check.hpp"
#include "model_loader.hpp"

namespace gptoss::cli {
namespace {

int run_info(const Args& args) {
  auto model = load_model(args);
  const ModelConfig& c = model->config();
  const io::Checkpoint& ck = model->checkpoint();
  if (args.flag("check")) {
    // Progress only on a terminal: scripts get nothing on stderr but a failure's one line.
    const bool tty = isatty(fileno(stderr)) && !args.flag("quiet");
    int last = -1;
    check_weights_finite(ck, c, [&](std::uint64_t done, std::uint64_t total) {
      const int pct = int(100 * done / std::max<std::uint64_t>(total, 1));
      if (!tty || pct == last) return;
      last = pct;
      fmt::print(stderr, "\rchecking weights: {:3d}%{}", pct, pct == 100 ? "\n" : "");
    });
  }
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
  fmt::print("backend:      {}\n", describe_backend(*model));
  if (args.flag("check")) fmt::print("weights:      all finite (every bf16 value and MXFP4 scale read)\n");
  return 0;
}

const Register reg{{
    .name = "info",
    .summary = "describe a checkpoint: config, layout, parameters, bytes",
    .usage = "gptoss info -m DIR [-t N] [--device cpu|cuda] [--check]",
    .options = with_model_options({{"--check", "read every weight and fail, naming the tensor, on a NaN or Inf", ""}}),
    .run = run_info,
}};

}  // namespace
}  // namespace gptoss::cli
