// gptoss synth: a random checkpoint of a real shape, for tests and benchmarks without downloads.
#include <unistd.h>

#include <cstdio>

#include <fmt/core.h>

#include "cli.hpp"
#include "gptoss/io/synth.hpp"

namespace gptoss::cli {
namespace {

std::string config_names() {
  std::string s;
  for (const auto& n : named_configs) s += std::string(s.empty() ? "" : ", ") + n.name;
  return s;
}

int run_synth(const Args& args) {
  const std::string name = args.str("config");
  const NamedConfig* preset = nullptr;
  for (const auto& n : named_configs)
    if (name == n.name) preset = &n;
  if (!preset) throw usage_error("--config: unknown config '" + name + "' (known: " + config_names() + ")");
  ModelConfig c = preset->config;
  c.num_hidden_layers = args.number<int>("layers", c.num_hidden_layers);
  if (c.num_hidden_layers < 1 || c.num_hidden_layers > 1024) throw usage_error("--layers must be in [1, 1024]");
  io::SynthOptions opt;
  opt.seed = args.number<std::uint64_t>("seed", 1);
  const std::string layout = args.str("layout", "original");
  if (layout == "original") opt.layout = Layout::original;
  else if (layout == "hf") opt.layout = Layout::huggingface;
  else throw usage_error("--layout must be original or hf");

  const bool tty = isatty(fileno(stderr));
  int last = -1;
  opt.progress = [&](std::uint64_t done, std::uint64_t total) {
    int pct = int(100 * done / std::max<std::uint64_t>(total, 1));
    if (pct != last && (tty || pct % 10 == 0)) {
      fmt::print(stderr, "{}writing {:.2f} GiB: {:3d}%{}", tty ? "\r" : "", double(total) / (1 << 30), pct, tty ? "" : "\n");
      last = pct;
    }
  };
  io::synthesize_checkpoint(c, args.str("out"), opt);
  if (tty) fmt::print(stderr, "\n");
  fmt::print("wrote {} ({} layout, {} layers, {} parameters) to {}\n", name, layout, c.num_hidden_layers,
             c.parameter_count(), args.str("out"));
  return 0;
}

const Register reg{{"synth", "write a random checkpoint of a real model's shape",
                    "usage: gptoss synth --config NAME --out DIR [--layers N] [--seed S] [--layout original|hf]\n\n"
                    "  --config NAME      " + config_names() + "\n"
                    "  --out DIR          folder to write config.json and model.safetensors into\n"
                    "  --layers N         number of blocks (default: the config's)\n"
                    "  --seed S           random seed (default 1); the same seed gives the same bytes\n"
                    "  --layout L         original (default) or hf\n",
                    {}, {"config", "out", "layers", "seed", "layout"}, run_synth}};

}  // namespace
}  // namespace gptoss::cli
