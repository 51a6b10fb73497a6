// gptoss synth: a random checkpoint of a real shape, for tests and benchmarks without downloads.
#include <unistd.h>

#include <cstdio>
#include <optional>

#include <fmt/core.h>

#include "cli.hpp"
#include "gptoss/io/checkpoint.hpp"
#include "gptoss/text/tokenizer.hpp"
#include "gptoss/tools/gguf.hpp"
#include "gptoss/tools/synth.hpp"
#include "gptoss/tools/presets.hpp"

namespace gptoss::cli {
namespace {

std::string config_names() {
  std::string s;
  for (const auto& n : tools::named_configs) s += std::string(s.empty() ? "" : ", ") + n.name;
  return s;
}

int run_synth(const Args& args) {
  const std::string name = args.str("config");
  const tools::NamedConfig* preset = nullptr;
  for (const auto& n : tools::named_configs)
    if (name == n.name) preset = &n;
  if (!preset) throw usage_error("--config: unknown config '" + name + "' (known: " + config_names() + ")");
  ModelConfig c = preset->config;
  c.num_hidden_layers = args.number_in<int>("layers", c.num_hidden_layers, 1, 1024);
  tools::SynthOptions opt;
  opt.seed = args.number<std::uint64_t>("seed", 1);
  const std::string layout = args.str("layout", "original");
  if (layout == "original") opt.layout = Layout::original;
  else if (layout == "hf") opt.layout = Layout::huggingface;
  else throw usage_error("--layout must be original or hf");
  if (args.has("gguf") && opt.layout != Layout::original) throw usage_error("--gguf needs --layout original");

  const bool tty = isatty(fileno(stderr));
  const bool quiet = args.flag("quiet");
  int last = -1;
  opt.progress = [&](std::uint64_t done, std::uint64_t total) {
    int pct = int(100 * done / std::max<std::uint64_t>(total, 1));
    if (!quiet && pct != last && (tty || pct % 10 == 0)) {
      fmt::print(stderr, "{}writing {:.2f} GiB: {:3d}%{}", tty ? "\r" : "", double(total) / (1 << 30), pct, tty ? "" : "\n");
      last = pct;
    }
  };
  // The vocabulary first: a missing one should stop before gigabytes are written.
  std::optional<text::Tokenizer> vocab;
  if (args.has("vocab") && !args.has("gguf")) throw usage_error("--vocab applies to --gguf only");
  if (args.has("gguf"))
    vocab.emplace(args.has("vocab") ? text::Tokenizer::from_file(args.str("vocab")) : text::Tokenizer::load_default());
  if (vocab && std::size_t(c.vocab_size) != vocab->vocab_size())
    throw usage_error(fmt::format("--gguf: {} has a vocabulary of {} tokens; llama.cpp's gpt-oss needs the o200k_harmony "
                                  "vocabulary of {} tokens (gpt-oss-20b, gpt-oss-120b, tiny-harmony)",
                                  name, c.vocab_size, vocab->vocab_size()));
  tools::synthesize_checkpoint(c, args.str("out"), opt);
  if (tty && !quiet) fmt::print(stderr, "\n");
  fmt::print("wrote {} ({} layout, {} layers, {} parameters) to {}\n", name, layout, c.num_hidden_layers,
             c.parameter_count(), args.str("out"));
  if (args.has("gguf")) {
    // The same values once more, read back from the checkpoint just written, for llama.cpp.
    const auto ck = io::Checkpoint::open(args.str("out"));
    last = -1;
    tools::write_gguf(ck, *vocab, "gptoss synth " + name, args.str("gguf"), opt.progress);
    if (tty && !quiet) fmt::print(stderr, "\n");
    fmt::print("wrote the same weights as GGUF (llama.cpp's gpt-oss) to {}\n", args.str("gguf"));
  }
  return 0;
}

const Register reg{{
    .name = "synth",
    .summary = "write a random checkpoint of a real model's shape",
    .usage = "gptoss synth --config NAME --out DIR [--layers N] [-s S] [--layout original|hf] [--gguf FILE [--vocab FILE]]",
    .options = {{"--config", "one of: " + config_names() + " (tiny-harmony: a small model with the real vocabulary)", "NAME"},
                {"--out", "folder to write config.json and model.safetensors into", "DIR"},
                {"--layers", "number of blocks, 1 to 1024 (default: the config's)", "N"},
                {"-s,--seed", "random seed (default 1); the same seed gives the same bytes", "S"},
                {"--layout", "original (default) or hf", "L"},
                {"--gguf", "also write the same weights as a GGUF file of llama.cpp's gpt-oss architecture "
                           "(MXFP4 experts; needs the real vocabulary: gpt-oss-20b, gpt-oss-120b, tiny-harmony)", "FILE"},
                {"--vocab", "with --gguf: tokenizer.json or o200k_base.tiktoken for the GGUF's vocabulary "
                            "(default: $GPTOSS_VOCAB, then the installed o200k_base.tiktoken)", "FILE"}},
    .run = run_synth,
}};

}  // namespace
}  // namespace gptoss::cli
