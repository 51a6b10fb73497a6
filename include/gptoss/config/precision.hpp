// The arithmetic of the dense products (QKV, out-projection, router, experts, unembedding), chosen
// per run. exact: float32 activations and accumulation, within the golden tolerance of the
// float32 reference (the default). bf16: the official reference's own arithmetic, activations
// rounded to bf16 (nearest even), products of bf16 values accumulated in float32.
#pragma once
#include <string>
#include <string_view>

#include "gptoss/core/error.hpp"

namespace gptoss {

enum class Precision { exact, bf16 };

inline const char* name(Precision p) { return p == Precision::bf16 ? "bf16" : "exact"; }

inline Precision parse_precision(std::string_view text) {
  if (text == "exact") return Precision::exact;
  if (text == "bf16") return Precision::bf16;
  throw input_error("precision must be exact or bf16, not '" + std::string(text) + "'");
}

}  // namespace gptoss
