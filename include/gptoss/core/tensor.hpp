// Non-owning views of weights as they lie in the checkpoint: bf16 matrices and vectors, and MXFP4
// matrices whose packed values and scales travel together (a view cannot pair the wrong scales).
#pragma once
#include <cstddef>
#include <cstdint>

#include "gptoss/core/bf16.hpp"
#include "gptoss/core/hd.hpp"
#include "gptoss/core/mxfp4.hpp"

namespace gptoss {

// Row-major [rows, cols], as PyTorch stores a linear layer's weight ([out, in]).
struct Bf16Matrix {
  const bf16* data = nullptr;
  int rows = 0, cols = 0;
  GPTOSS_HD const bf16* row(std::int64_t r) const { return data + r * cols; }
};

struct Bf16Vector {
  const bf16* data = nullptr;
  int size = 0;
  GPTOSS_HD float operator[](int i) const { return to_float(data[i]); }
};

// One MXFP4 matrix [rows, cols]: each row is cols/2 packed bytes and cols/32 scale bytes.
struct Mxfp4Matrix {
  const std::uint8_t* blocks = nullptr;
  const std::uint8_t* scales = nullptr;
  int rows = 0, cols = 0;
  GPTOSS_HD const std::uint8_t* row_blocks(std::int64_t r) const { return blocks + r * (cols / 2); }
  GPTOSS_HD const std::uint8_t* row_scales(std::int64_t r) const { return scales + r * (cols / mxfp4::block_elems); }
};

// A stack of same-shaped MXFP4 matrices, one per expert: [experts, rows, cols].
struct Mxfp4Experts {
  const std::uint8_t* blocks = nullptr;
  const std::uint8_t* scales = nullptr;
  int experts = 0, rows = 0, cols = 0;
  GPTOSS_HD Mxfp4Matrix expert(int e) const {
    std::int64_t per_expert = std::int64_t(rows) * cols;
    return {blocks + e * per_expert / 2, scales + e * per_expert / mxfp4::block_elems, rows, cols};
  }
};

}  // namespace gptoss
