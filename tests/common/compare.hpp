// Comparing results with expectations, for host and device tests alike (no test framework here).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace test {

// Largest |a - b| over each row, relative to the row's largest |b| (the fixture README's measure);
// NaN anywhere gives infinity, so unwritten (NaN-poisoned) outputs always fail.
inline double max_row_relative_error(const float* a, const float* b, std::int64_t rows, std::int64_t cols) {
  double worst = 0.0;
  for (std::int64_t r = 0; r < rows; ++r) {
    double diff = 0.0, scale = 1e-30;
    for (std::int64_t c = 0; c < cols; ++c) {
      const double x = a[r * cols + c], y = b[r * cols + c];
      if (std::isnan(x) || std::isnan(y)) return INFINITY;
      diff = std::max(diff, std::fabs(x - y));
      scale = std::max(scale, std::fabs(y));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

}  // namespace test
