// The generation loop: prefill the prompt in one call, then sample and decode one token at a
// time until a stop token (which is part of the output, as in the reference) or max_tokens.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gptoss/core/error.hpp"
#include "gptoss/core/token.hpp"
#include "gptoss/generate/sampler.hpp"

namespace gptoss {

// Stop sets (spec 7).
inline constexpr token_id token_return = 200002, token_call = 200012, token_end = 200007;
inline const std::vector<token_id> assistant_stop_tokens = {token_return, token_call};

struct GenerateOptions {
  int max_tokens = 256;
  SamplingOptions sampling;
  std::vector<token_id> stop_tokens;  // empty: never stop early
  // Asked after each token; true ends generation there (e.g. a program's Ctrl-C handler's flag).
  std::function<bool()> cancelled;
};

// Called with each generated token; returning false stops generation after it.
using TokenCallback = std::function<bool(token_id)>;

// The context a generation needs, checked against the model's limit before anything runs.
template <class Model>
std::int64_t generation_capacity(const Model& model, std::size_t prompt, int max_tokens) {
  const std::int64_t need = std::int64_t(prompt) + max_tokens, limit = model.config().max_context();
  if (prompt == 0) throw input_error("the prompt is empty");
  if (max_tokens < 0) throw input_error("max_tokens must be >= 0");
  if (need > limit)
    throw input_error("prompt of " + std::to_string(prompt) + " tokens plus " + std::to_string(max_tokens) +
                      " new tokens exceeds the model's context of " + std::to_string(limit) + " tokens");
  return need;
}

// Generates into a fresh sequence; returns the generated tokens only.
template <class Model>
std::vector<token_id> generate(Model& model, std::span<const token_id> prompt, const GenerateOptions& opt,
                               const TokenCallback& on_token = {}) {
  Sampler sampler(opt.sampling);
  auto seq = model.new_sequence(generation_capacity(model, prompt.size(), opt.max_tokens));
  std::vector<token_id> out;
  if (opt.max_tokens == 0) return out;
  std::vector<float> logits = model.prefill(seq, prompt);
  // Greedy and top-k sampling need only the best few candidates: a model that can select them
  // while unembedding (decode_top_k) need not write the logits row.
  constexpr bool selects = requires(typename Model::Sequence& s, std::span<Candidate> c) { model.decode_top_k(s, 0, c); };
  std::vector<Candidate> best(selects ? std::min(sampler.candidates_needed(), logits.size()) : 0);
  token_id t = sampler.sample(logits);
  for (;;) {
    out.push_back(t);
    const bool stop = std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), t) != opt.stop_tokens.end();
    if ((on_token && !on_token(t)) || stop || int(out.size()) >= opt.max_tokens || (opt.cancelled && opt.cancelled())) break;
    if (best.empty()) {
      model.decode(seq, t, logits);  // reuses the logits buffer: no allocation per token
      t = sampler.sample(logits);
    } else if constexpr (selects) {
      model.decode_top_k(seq, t, best);
      t = sampler.sample_best(best);
    }
  }
  return out;
}

}  // namespace gptoss
