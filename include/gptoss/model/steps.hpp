// The shape of a forward call, common to every backend and to AnyModel: which logits it returns,
// the steps (tokens to append to each sequence), their checks, and the convenience overloads that
// every model offers on top of its one real forward().
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/core/token.hpp"
#include "gptoss/model/top_k.hpp"

namespace gptoss {

// Which rows of logits a forward call returns.
enum class Logits {
  last,  // one row per step: its last token's
  all,   // one row per token
};

// One sequence's share of a forward call: tokens to append to it. Each backend has its own
// Sequence type (the host's is KvCache).
template <class Sequence>
struct StepOf {
  Sequence& sequence;
  std::span<const token_id> tokens;
};

template <class Sequence>
std::int64_t logits_rows(std::span<const StepOf<Sequence>> steps, Logits which) {
  std::int64_t rows = 0;
  for (const auto& st : steps) rows += which == Logits::all ? std::int64_t(st.tokens.size()) : 1;
  return rows;
}

// Everything that can be wrong with a call is found before any work is done, so a failed call
// leaves every sequence as it was.
template <class Sequence>
void check_steps(const ModelConfig& c, std::span<const StepOf<Sequence>> steps, Logits which, std::size_t out_size) {
  for (std::size_t s = 0; s < steps.size(); ++s) {
    const auto& st = steps[s];
    if (st.tokens.empty()) throw input_error("step " + std::to_string(s) + " has no tokens");
    for (std::size_t i = 0; i < st.tokens.size(); ++i)
      if (st.tokens[i] >= token_id(c.vocab_size))
        throw input_error("token id " + std::to_string(st.tokens[i]) + " (at index " + std::to_string(i) +
                          ") is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    st.sequence.check_room(std::int64_t(st.tokens.size()));
    for (std::size_t o = 0; o < s; ++o)
      if (&steps[o].sequence == &st.sequence) throw input_error("the same sequence appears twice in one forward call");
  }
  const std::int64_t need = logits_rows(steps, which) * c.vocab_size;
  if (std::int64_t(out_size) < need)
    throw input_error("logits buffer holds " + std::to_string(out_size) + " floats, " + std::to_string(need) + " needed");
}

// The overloads every model has, written once in terms of the model's
// `forward(steps, which, std::span<float> out)`. A model derives from this and says
// `using ForwardConveniences::forward;` next to its own forward.
template <class Model, class Sequence>
class ForwardConveniences {
 public:
  using Step = StepOf<Sequence>;

  // Logits in a new vector: [rows, vocab].
  std::vector<float> forward(std::span<const Step> steps, Logits which = Logits::last) {
    std::vector<float> out(std::size_t(logits_rows(steps, which)) * self().config().vocab_size);
    self().forward(steps, which, std::span<float>(out));
    return out;
  }
  std::vector<float> prefill(Sequence& seq, std::span<const token_id> tokens, Logits which = Logits::last) {
    Step step{seq, tokens};
    return forward(std::span<const Step>(&step, 1), which);
  }
  std::vector<float> decode(Sequence& seq, token_id token) { return prefill(seq, std::span<const token_id>(&token, 1)); }
  // One token into a caller-owned buffer of vocab_size floats: no allocation per step.
  void decode(Sequence& seq, token_id token, std::span<float> logits) {
    Step step{seq, std::span<const token_id>(&token, 1)};
    self().forward(std::span<const Step>(&step, 1), Logits::last, logits);
  }
  // One token, then the best best.size() next-token candidates, best first, instead of the logits
  // row (greedy decoding needs one). This version computes the whole row; the host backend
  // overrides it with one that never writes the row out.
  void decode_top_k(Sequence& seq, token_id token, std::span<Candidate> best) {
    check_top_k(self().config(), best.size());
    const std::vector<float> logits = decode(seq, token);
    TopK top;
    top.reset(best.size());
    top.offer(logits, 0);
    copy_top_k(top, best);
  }

 protected:
  static void check_top_k(const ModelConfig& c, std::size_t k) {
    if (k < 1 || k > std::size_t(c.vocab_size))
      throw input_error("cannot select " + std::to_string(k) + " of " + std::to_string(c.vocab_size) + " candidates");
  }
  static void copy_top_k(const TopK& top, std::span<Candidate> best) {
    if (top.best().size() < best.size()) throw error("the model's logits are NaN: no next token to choose");
    std::copy(top.best().begin(), top.best().end(), best.begin());
  }

 private:
  Model& self() { return static_cast<Model&>(*this); }
};

}  // namespace gptoss
