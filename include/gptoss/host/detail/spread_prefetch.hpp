// Prefetching the rows a kernel reads next, spread over the work it does on the current ones.
#pragma once
#include <algorithm>
#include <cstdint>

namespace gptoss::host::detail {

// Asks for the lines of n rows (dim floats, `stride` apart) in equal shares, one per call of
// step(), `steps` of them, so that a kernel spreads the requests over its whole run: in a burst
// they fill the core's miss buffers and stall its loads, and memory then idles while it computes.
// The rows may lie past the end of an array: the addresses are integers, and a prefetch never faults.
class SpreadPrefetch {
 public:
  SpreadPrefetch(const float* rows, std::int64_t n, std::int64_t stride, int dim, std::int64_t steps) {
    const auto begin = reinterpret_cast<std::uintptr_t>(rows);
    next_ = begin & ~std::uintptr_t(63);  // the first row's line
    end_ = begin + std::uintptr_t((n - 1) * stride + dim) * sizeof(float);
    const auto lines = std::int64_t((end_ - next_ + 63) / 64);
    per_step_ = (lines + steps - 1) / std::max<std::int64_t>(steps, 1);
  }
  __attribute__((always_inline)) void step() {
    for (std::int64_t i = 0; i < per_step_ && next_ < end_; ++i, next_ += 64)
      __builtin_prefetch(reinterpret_cast<const void*>(next_), 0, 3);  // for reading, into L1
  }

 private:
  std::uintptr_t next_, end_;
  std::int64_t per_step_;
};

}  // namespace gptoss::host::detail
