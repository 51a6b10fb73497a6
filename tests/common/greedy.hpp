// The reference's greedy continuation of the tiny fixture (the golden file's greedy.* arrays): the
// prompt prefilled, then one token decoded at a time with the KV cache. Both backends' tests run
// it; the checks report through a callback, as in intermediates.hpp.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "common/compare.hpp"
#include "common/golden.hpp"
#include "gptoss/generate/sampler.hpp"

namespace test {

// Checks each step's logits against the reference's within `tolerance` (the largest relative error
// of the row) and feeds back their argmax; returns the tokens so chosen, to compare with
// greedy.tokens_fp32. report(ok, what) is called once per step.
template <class Model, class Report>
std::vector<gptoss::token_id> greedy_against_golden(Model& model, const Golden& golden, double tolerance,
                                                    Report&& report) {
  const auto prompt = golden.tokens("greedy.prompt");
  const auto steps = golden.tokens("greedy.tokens_fp32").size();
  const auto expect = golden.floats("greedy.step_logits_fp32");
  const std::size_t vocab = expect.size() / steps;
  auto s = model.new_sequence(64);
  auto logits = model.prefill(s, prompt);
  std::vector<gptoss::token_id> got;
  for (std::size_t step = 0; step < steps; ++step) {
    const double err = max_row_relative_error(logits.data(), expect.data() + step * vocab, 1, std::int64_t(vocab));
    report(err < tolerance, "step " + std::to_string(step) + ": relative error " + std::to_string(err));
    got.push_back(gptoss::argmax(logits));
    model.decode(s, got.back(), logits);
  }
  return got;
}

}  // namespace test
