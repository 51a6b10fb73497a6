// The checks every backend's sequence (its KV cache) makes: a capacity within the model's context,
// and room for the tokens a call appends, both before any work is done.
#pragma once
#include <cstdint>
#include <string>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/error.hpp"

namespace gptoss {

inline void check_capacity(const ModelConfig& c, std::int64_t capacity) {
  if (capacity < 1 || capacity > c.max_context())
    throw input_error("sequence capacity " + std::to_string(capacity) + " is outside [1, " +
                      std::to_string(c.max_context()) + "], the model's context");
}

// Fails if a sequence of `length` tokens cannot take n more.
inline void check_kv_room(std::int64_t length, std::int64_t capacity, std::int64_t n) {
  if (n > capacity - length)
    throw input_error("sequence of " + std::to_string(length) + " tokens cannot take " + std::to_string(n) +
                      " more: its capacity is " + std::to_string(capacity) + " tokens");
}

}  // namespace gptoss
