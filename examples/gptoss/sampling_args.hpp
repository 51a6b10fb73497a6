// Sampling options shared by the commands that generate.
#pragma once
#include <set>
#include <string>

#include <fmt/core.h>

#include "cli.hpp"
#include "gptoss/generate/sampler.hpp"

namespace gptoss::cli {

inline SamplingOptions sampling_options(const Args& args, float default_temperature) {
  SamplingOptions s;
  s.temperature = args.number<float>("temperature", default_temperature);
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

inline std::string sampling_usage(float default_temperature) {
  return fmt::format(
      "  --temperature T    0 is greedy; otherwise sample from softmax(logits / T) (default {})\n"
      "  --top-p P          nucleus sampling: keep the likeliest tokens up to probability P (default 1)\n"
      "  --top-k K          keep only the K likeliest tokens (default 0: all)\n"
      "  --min-p M          drop tokens less likely than M times the likeliest (default 0)\n"
      "  --seed S           random seed for sampling (default 0)\n",
      default_temperature);
}

inline std::set<std::string> with_sampling_options(std::set<std::string> options) {
  options.insert({"temperature", "top-p", "top-k", "min-p", "seed"});
  return options;
}

}  // namespace gptoss::cli
