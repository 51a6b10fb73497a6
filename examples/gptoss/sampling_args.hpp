// Sampling options shared by the commands that generate.
#pragma once
#include <vector>

#include <fmt/core.h>

#include "cli.hpp"
#include "gptoss/generate/sampler.hpp"

namespace gptoss::cli {

inline SamplingOptions sampling_options(const Args& args, float default_temperature) {
  SamplingOptions s;
  s.temperature = args.number_in<float>("temperature", default_temperature, 0.0f, 100.0f);
  s.top_p = args.number<float>("top-p", 1.0f);
  if (!(s.top_p > 0.0f && s.top_p <= 1.0f))
    throw usage_error("--top-p must be greater than 0 and at most 1, not " + args.str("top-p"));
  s.top_k = args.number_in<int>("top-k", 0, 0, 1 << 30);
  s.min_p = args.number_in<float>("min-p", 0.0f, 0.0f, 1.0f);
  s.seed = args.number<std::uint64_t>("seed", 0);
  try {
    s.validate();
  } catch (const input_error& e) {
    throw usage_error(e.what());
  }
  return s;
}

inline std::vector<Opt> with_sampling_options(std::vector<Opt> options, float default_temperature) {
  options.push_back({"--temperature,--temp", fmt::format("0 to 100; 0 is greedy, otherwise sample from softmax(logits / T) (default {})", default_temperature), "T"});
  options.push_back({"--top-p", "nucleus sampling: keep the likeliest tokens up to probability P, 0 < P <= 1 (default 1)", "P"});
  options.push_back({"--top-k", "keep only the K likeliest tokens (default 0: all)", "K"});
  options.push_back({"--min-p", "drop tokens less likely than M times the likeliest, 0 to 1 (default 0)", "M"});
  options.push_back({"-s,--seed", "random seed for sampling (default 0)", "S"});
  return options;
}

}  // namespace gptoss::cli
