// The generation loop: prefill the prompt in one call, then sample and decode one token at a
// time until a stop token (which is part of the output, as in the reference) or max_tokens.
#pragma once
#include <algorithm>
#include <cmath>
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

// A constraint on which tokens may come next (structured decoding: gptoss/constrain/). The loop
// asks it for the allowed tokens, samples among them only, and tells it which token was taken.
struct TokenConstraint {
  virtual ~TokenConstraint() = default;
  // Writes the allowed next tokens as a bitmap over the vocabulary (bit t of words[t / 64]).
  virtual void allowed_tokens(std::span<std::uint64_t> words) = 0;
  // Whether one token may come next (cheaper than the whole bitmap).
  virtual bool allows(token_id t) = 0;
  virtual void advance(token_id t) = 0;
  // Whether nothing more may follow (generation stops there even without a stop token).
  virtual bool finished() const { return false; }
};

struct GenerateOptions {
  int max_tokens = 256;
  SamplingOptions sampling;
  std::vector<token_id> stop_tokens;  // empty: never stop early
  TokenConstraint* constraint = nullptr;  // not owned; none: every token may come
  // Asked after each token; true ends generation there (e.g. a program's Ctrl-C handler's flag).
  std::function<bool()> cancelled;
};

// Samples a token the constraint allows. When the sampler's choice among all tokens has the same
// distribution as its choice among the allowed ones (greedy, or plain temperature sampling:
// rejection sampling is exact), it first tries the unconstrained choice and builds the mask only
// if that token is not allowed; with top-k, top-p or min-p the mask always comes first, because
// truncating before and after masking differ.
inline token_id sample_constrained(Sampler& sampler, std::span<float> logits, TokenConstraint& c,
                                   std::vector<std::uint64_t>& words) {
  const auto& o = sampler.options();
  const bool exact_retry = o.temperature == 0.0f || (o.top_k == 0 && o.top_p >= 1.0f && o.min_p <= 0.0f);
  if (exact_retry) {
    token_id t = sampler.sample(logits);
    if (c.allows(t)) return t;
  }
  words.assign((logits.size() + 63) / 64, 0);
  c.allowed_tokens(words);
  bool any = false;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (!(words[i >> 6] >> (i & 63) & 1)) logits[i] = -INFINITY;
    else any = true;
  }
  if (!any) throw input_error("the constraint allows no token here");
  // Allowed tokens whose logits are not finite cannot be sampled: the first allowed one stands in.
  token_id t = sampler.sample(logits);
  if (!(words[t >> 6] >> (t & 63) & 1))
    for (std::size_t i = 0; i < logits.size(); ++i)
      if (words[i >> 6] >> (i & 63) & 1) return token_id(i);
  return t;
}

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
  if (opt.constraint) {
    // Constrained: the whole logits row is needed every step (the best unconstrained candidates
    // may all be disallowed).
    std::vector<std::uint64_t> words;
    for (;;) {
      const token_id t = sample_constrained(sampler, logits, *opt.constraint, words);
      opt.constraint->advance(t);
      out.push_back(t);
      const bool stop = std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), t) != opt.stop_tokens.end();
      if ((on_token && !on_token(t)) || stop || opt.constraint->finished() || int(out.size()) >= opt.max_tokens ||
          (opt.cancelled && opt.cancelled()))
        break;
      model.decode(seq, t, logits);
    }
    return out;
  }
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
