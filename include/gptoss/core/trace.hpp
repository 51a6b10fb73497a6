// A receiver of a forward pass's intermediate values, for tests and debugging: name, layer (-1
// outside blocks), and the data, [rows, cols] row-major.
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>

namespace gptoss {

using Trace = std::function<void(std::string_view name, int layer, const float* data, std::int64_t rows, std::int64_t cols)>;

}  // namespace gptoss
