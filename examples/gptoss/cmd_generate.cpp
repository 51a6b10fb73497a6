// gptoss generate: continue a token sequence with the model.
#include <cstdio>

#include <fmt/core.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gptoss/generate/generate.hpp"
#include "model_loader.hpp"

namespace gptoss::cli {
namespace {

SamplingOptions sampling_options(const Args& args) {
  SamplingOptions s;
  s.temperature = args.number<float>("temperature", 0.0f);
  s.top_p = args.number<float>("top-p", 1.0f);
  s.top_k = args.number<int>("top-k", 0);
  s.min_p = args.number<float>("min-p", 0.0f);
  s.seed = args.number<std::uint64_t>("seed", 0);
  try {
    s.validate();
  } catch (const input_error& e) {
    throw usage_error(e.what());
  }
  return s;
}

int run_generate(const Args& args) {
  GenerateOptions opt;
  opt.sampling = sampling_options(args);
  opt.max_tokens = args.number<int>("max-tokens", 32);
  if (opt.max_tokens < 0) throw usage_error("--max-tokens must be >= 0");
  if (args.has("stop")) opt.stop_tokens = token_list(args, "stop");
  auto prompt = token_list(args, "tokens");
  auto model = load_model(args);
  const bool json = args.flag("json");
  bool first = true;
  auto tokens = generate(*model, prompt, opt, [&](token_id t) {
    if (!json) {
      fmt::print("{}{}", first ? "" : ",", t);
      std::fflush(stdout);
      first = false;
    }
    return true;
  });
  if (json) fmt::print("{}\n", nlohmann::json{{"tokens", tokens}}.dump());
  else fmt::print("\n");
  return 0;
}

const Register reg{{"generate", "continue a sequence of tokens",
                    "usage: gptoss generate --model DIR --tokens 1,2,3 [--max-tokens N] [--temperature T]\n"
                    "                       [--top-p P] [--top-k K] [--min-p M] [--seed S] [--stop IDS] [--json]\n\n"
                    + model_options_usage +
                    "  --tokens IDS       the prompt, comma-separated token ids\n"
                    "  --max-tokens N     tokens to generate (default 32)\n"
                    "  --temperature T    0 (default) is greedy; otherwise sample from softmax(logits / T)\n"
                    "  --top-p P          nucleus sampling: keep the likeliest tokens up to probability P (default 1)\n"
                    "  --top-k K          keep only the K likeliest tokens (default 0: all)\n"
                    "  --min-p M          drop tokens less likely than M times the likeliest (default 0)\n"
                    "  --seed S           random seed for sampling (default 0)\n"
                    "  --stop IDS         comma-separated token ids that end generation (included in the output)\n"
                    "  --json             print {\"tokens\": [...]} with the generated tokens\n",
                    {"json"}, {"model", "threads", "tokens", "max-tokens", "temperature", "top-p", "top-k", "min-p", "seed", "stop"},
                    run_generate}};

}  // namespace
}  // namespace gptoss::cli
