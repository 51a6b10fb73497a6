// The key/value cache of one sequence on the host. Keys are stored after RoPE. Full-attention layers keep
// every position; sliding layers keep a ring of `sliding_window` slots (position p in slot p % W),
// all a sliding layer can ever look at. A layer's keys are laid out by key/value head, then slot:
// one head's keys lie one after another, so that attention streams them.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/config/sequence_limits.hpp"
#include "gptoss/core/huge_page_allocator.hpp"

namespace gptoss {

class KvCache {
 public:
  // capacity: the most tokens this sequence may hold; memory for them is reserved now, so that
  // decoding never allocates.
  KvCache(const ModelConfig& c, std::int64_t capacity)
      : capacity_(capacity), width_(c.kv_width()), head_dim_(c.head_dim) {
    check_capacity(c, capacity);
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      std::int64_t slots = c.is_sliding(l) ? std::min<std::int64_t>(c.sliding_window, capacity) : capacity;
      layers_.push_back({slots, c.is_sliding(l), Rows(slots * width_), Rows(slots * width_)});
    }
  }

  std::int64_t length() const { return length_; }
  std::int64_t capacity() const { return capacity_; }
  // Bytes held, for reports.
  std::int64_t bytes() const {
    std::int64_t n = 0;
    for (const auto& l : layers_) n += std::int64_t(l.k.size() + l.v.size()) * sizeof(float);
    return n;
  }

  // The head_dim floats of key/value head `head` at position `pos`.
  float* key(int layer, int head, std::int64_t pos) { return layers_[layer].k.data() + offset(layer, head, pos); }
  float* value(int layer, int head, std::int64_t pos) { return layers_[layer].v.data() + offset(layer, head, pos); }
  const float* key(int layer, int head, std::int64_t pos) const { return layers_[layer].k.data() + offset(layer, head, pos); }
  const float* value(int layer, int head, std::int64_t pos) const {
    return layers_[layer].v.data() + offset(layer, head, pos);
  }

  // Fails before any work is done if n more tokens do not fit.
  void check_room(std::int64_t n) const { check_kv_room(length_, capacity_, n); }
  void advance(std::int64_t n) { length_ += n; }
  void clear() {
    length_ = 0;
    saved_length_ = 0;
  }

  // Prefix reuse. Full-attention layers hold every position, so dropping the last tokens is only
  // a matter of the length; a sliding layer's ring has overwritten the positions a shorter
  // sequence would need once the sequence outgrew it. save_prefix() copies the rings as they
  // are now; truncate(n) then rolls the sequence back to the longest length <= n that it can
  // restore exactly: n itself while no ring has wrapped, the saved length with the saved rings,
  // else 0. It returns the new length. The copy's memory is reserved by the first save_prefix()
  // and reused after.
  void save_prefix() {
    for (auto& l : layers_)
      if (l.ring) {
        l.saved_k.assign(l.k.begin(), l.k.end());
        l.saved_v.assign(l.v.begin(), l.v.end());
      }
    saved_length_ = length_;
  }
  std::int64_t saved_length() const { return saved_length_; }
  std::int64_t truncate(std::int64_t n) {
    n = std::clamp<std::int64_t>(n, 0, length_);
    if (n == length_) return n;
    if (length_ <= ring_slots()) {
      length_ = n;  // no ring slot has been overwritten yet
    } else if (saved_length_ > 0 && saved_length_ <= n) {
      for (auto& l : layers_)
        if (l.ring) {
          std::copy(l.saved_k.begin(), l.saved_k.end(), l.k.begin());
          std::copy(l.saved_v.begin(), l.saved_v.end(), l.v.begin());
        }
      length_ = saved_length_;
    } else {
      length_ = 0;
    }
    if (saved_length_ > length_) saved_length_ = 0;  // positions before it will be written again
    return length_;
  }

 private:
  using Rows = std::vector<float, HugePageAllocator<float>>;
  struct Layer {
    std::int64_t slots;
    bool ring;
    Rows k, v;
    std::vector<float> saved_k = {}, saved_v = {};  // save_prefix()'s copy of a ring layer
  };
  // The fewest slots of a ring layer (a sequence no longer than that has overwritten none).
  std::int64_t ring_slots() const {
    std::int64_t n = capacity_;
    for (const auto& l : layers_)
      if (l.ring) n = std::min(n, l.slots);
    return n;
  }
  std::int64_t offset(int layer, int head, std::int64_t pos) const {
    const Layer& l = layers_[layer];
    return (head * l.slots + (l.ring ? pos % l.slots : pos)) * head_dim_;
  }

  std::int64_t capacity_;
  int width_, head_dim_;
  std::int64_t length_ = 0;
  std::int64_t saved_length_ = 0;
  std::vector<Layer> layers_;
};

}  // namespace gptoss
