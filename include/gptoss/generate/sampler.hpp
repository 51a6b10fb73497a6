// Choosing the next token from logits: greedy (temperature 0), or sampling from the softmax of
// logits / temperature restricted by top-k, top-p (nucleus) and min-p. A seed makes runs
// reproducible on every platform (the random numbers are our own, not std's distributions).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "gptoss/core/error.hpp"
#include "gptoss/core/token.hpp"
#include "gptoss/model/top_k.hpp"

namespace gptoss {

struct SamplingOptions {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: no limit
  float top_p = 1.0f;        // keep the most likely tokens whose probabilities sum to top_p
  float min_p = 0.0f;        // drop tokens less likely than min_p times the most likely one
  std::uint64_t seed = 0;

  void validate() const {
    if (!(temperature >= 0.0f) || !std::isfinite(temperature)) throw input_error("temperature must be a finite number >= 0");
    if (top_k < 0) throw input_error("top_k must be >= 0");
    if (!(top_p > 0.0f && top_p <= 1.0f)) throw input_error("top_p must be in (0, 1]");
    if (!(min_p >= 0.0f && min_p <= 1.0f)) throw input_error("min_p must be in [0, 1]");
  }
};

// The index of the largest logit, the first one among equals. NaN never wins.
inline token_id argmax(std::span<const float> logits) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best] || std::isnan(logits[best])) best = i;
  return token_id(best);
}

class Sampler {
 public:
  explicit Sampler(SamplingOptions options = {}) : opt_(options), rng_(options.seed) { opt_.validate(); }

  const SamplingOptions& options() const { return opt_; }

  token_id sample(std::span<const float> logits) {
    if (logits.empty()) throw input_error("cannot sample from an empty vocabulary");
    if (opt_.temperature == 0.0f) return argmax(logits);

    // Candidates sorted by logit, best first (only as many as top-k needs).
    const std::size_t n = opt_.top_k > 0 ? std::min(std::size_t(opt_.top_k), logits.size()) : logits.size();
    candidates_.resize(logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) candidates_[i] = {token_id(i), logits[i]};
    if (n < logits.size())
      std::partial_sort(candidates_.begin(), candidates_.begin() + std::ptrdiff_t(n), candidates_.end(), by_logit);
    else
      std::sort(candidates_.begin(), candidates_.end(), by_logit);
    return choose(std::span<const Candidate>(candidates_.data(), n));
  }

  // How many candidates sample_best() needs (the models' decode_top_k), or 0 when sampling needs
  // the whole logits row (no top-k limit).
  std::size_t candidates_needed() const {
    if (opt_.temperature == 0.0f) return 1;
    return std::size_t(opt_.top_k);
  }
  // The same choice as sample() from the row's best candidates_needed() candidates, best first.
  token_id sample_best(std::span<const Candidate> best) {
    const std::size_t need = candidates_needed();
    if (need == 0) throw input_error("sampling without a top-k limit needs the whole logits row");
    if (best.size() < need) throw input_error("too few candidates to sample from");
    if (opt_.temperature == 0.0f) return best[0].token;
    return choose(best.first(need));
  }

 private:
  // Candidates as sample() orders them: NaN last, then by logit, the lower id first among equals.
  static bool by_logit(const Candidate& a, const Candidate& b) {
    if (std::isnan(a.logit) || std::isnan(b.logit)) return !std::isnan(a.logit) && std::isnan(b.logit);
    return better(a, b);
  }

  // Samples among candidates sorted best first, after min-p and top-p.
  token_id choose(std::span<const Candidate> c) {
    const std::size_t n = c.size();
    if (!std::isfinite(c[0].logit)) throw input_error("cannot sample: the largest logit is not finite");
    probs_.resize(n);
    const float top = c[0].logit;
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += (probs_[i] = std::exp((c[i].logit - top) / opt_.temperature));
    // min-p against the most likely token (probability 1/sum after normalisation), then top-p.
    std::size_t keep = n;
    if (opt_.min_p > 0.0f)
      while (keep > 1 && probs_[keep - 1] < opt_.min_p * probs_[0]) --keep;
    if (opt_.top_p < 1.0f) {
      double acc = 0.0;
      for (std::size_t i = 0; i < keep; ++i)
        if ((acc += probs_[i] / sum) >= opt_.top_p) {
          keep = i + 1;
          break;
        }
    }
    double kept = 0.0;
    for (std::size_t i = 0; i < keep; ++i) kept += probs_[i];
    const double u = double(rng_() >> 11) * 0x1p-53 * kept;  // uniform in [0, kept)
    double acc = 0.0;
    for (std::size_t i = 0; i < keep; ++i)
      if ((acc += probs_[i]) > u) return c[i].token;
    return c[keep - 1].token;
  }

  SamplingOptions opt_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;
  std::vector<double> probs_;
};

}  // namespace gptoss
