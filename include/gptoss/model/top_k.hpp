// The best next-token candidates of a logits row, kept without storing the row: what greedy
// decoding and top-k sampling need, so that the unembedding can be fused with the selection.
#pragma once
#include <algorithm>
#include <span>
#include <vector>

#include "gptoss/core/token.hpp"

namespace gptoss {

struct Candidate {
  token_id token;
  float logit;
};

// The order of candidates: higher logit first, the lower token id first among equals (as the first
// maximum of the row is its argmax). NaN logits are never candidates.
inline bool better(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
}

// The k best of the logits offered to it, best first. Storage is reserved by reset(), so offering
// never allocates.
class TopK {
 public:
  void reset(std::size_t k) {
    k_ = k;
    best_.clear();
    best_.reserve(k);
  }
  void offer(Candidate c) {
    if (!(c.logit == c.logit)) return;  // NaN
    if (best_.size() == k_ && !better(c, best_.back())) return;
    if (best_.size() == k_) best_.pop_back();
    best_.insert(std::upper_bound(best_.begin(), best_.end(), c, better), c);
  }
  void offer(std::span<const float> logits, token_id first) {
    for (std::size_t i = 0; i < logits.size(); ++i) offer({token_id(first + i), logits[i]});
  }
  void merge(const TopK& other) {
    for (const Candidate& c : other.best_) offer(c);
  }
  std::span<const Candidate> best() const { return best_; }

 private:
  std::size_t k_ = 0;
  std::vector<Candidate> best_;
};

}  // namespace gptoss
