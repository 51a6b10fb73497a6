// The official reference's intermediate activations of the tiny fixture (the golden file's debug.*
// tensors) against the ones a model traces, layer by layer, so that a mismatch points at the op.
// Both backends' tests use it: the host's through Boost.Test, the CUDA one through its own harness,
// so the checks report through a callback.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/compare.hpp"
#include "common/golden.hpp"
#include "gptoss/core/trace.hpp"

namespace test {

// A model's traced activations, under "layerN.name" (or "name" outside the layers).
struct TracedActivations {
  std::map<std::string, std::vector<float>> seen;

  gptoss::Trace recorder() {
    return [this](std::string_view name, int layer, const float* data, std::int64_t rows, std::int64_t cols) {
      const std::string key = layer < 0 ? std::string(name) : "layer" + std::to_string(layer) + "." + std::string(name);
      seen[key].assign(data, data + rows * cols);
    };
  }
};

// Checks every activation the reference dumped for its debug.tokens prompt (n tokens) within
// `tolerance` (the largest relative error of a row), and the experts each token chose, exactly.
// report(ok, what) is called once per check.
template <class Report>
void compare_intermediates(const Golden& golden, const TracedActivations& traced, std::int64_t n, double tolerance,
                           Report&& report) {
  auto check = [&](const std::string& ours, const std::string& theirs, std::int64_t col0 = 0, std::int64_t width = -1) {
    const auto expect = golden.floats("debug." + theirs + "_fp32");
    const std::int64_t cols = std::int64_t(expect.size()) / n;
    if (width < 0) width = cols;
    const auto it = traced.seen.find(ours);
    if (it == traced.seen.end()) return report(false, ours + " was not traced");
    if (std::int64_t(it->second.size()) != n * width)
      return report(false, ours + " has " + std::to_string(it->second.size()) + " values, not " +
                               std::to_string(n * width));
    std::vector<float> slice(static_cast<std::size_t>(n * width));
    for (std::int64_t r = 0; r < n; ++r) std::copy_n(expect.data() + r * cols + col0, width, slice.data() + r * width);
    const double err = max_row_relative_error(it->second.data(), slice.data(), n, width);
    report(err < tolerance, ours + " vs " + theirs + ": relative error " + std::to_string(err));
  };
  check("embedding", "embedding");
  for (int l = 0; l < 4; ++l) {
    const std::string L = "layer" + std::to_string(l);
    check(L + ".attn_norm", L + ".attn_norm");
    if (l < 2) {  // the reference dumped the attention's insides for the first two layers
      check(L + ".q", L + ".qkv", 0, 128);
      check(L + ".k", L + ".qkv", 128, 64);
      check(L + ".v", L + ".qkv", 192, 64);
      check(L + ".q_rope", L + ".q_rope");
      check(L + ".k_rope", L + ".k_rope");
      check(L + ".attn_heads", L + ".attn_heads");
    }
    check(L + ".attn_residual", L + ".attn_residual");
    check(L + ".mlp_norm", L + ".mlp_norm");
    check(L + ".router_logits", L + ".router_logits");
    check(L + ".expert_weights", L + ".expert_weights");
    check(L + ".mlp_residual", L + ".mlp_residual");
    const auto want = golden.tokens("debug." + L + ".expert_indices_fp32");
    const auto it = traced.seen.find(L + ".expert_indices");
    bool same = it != traced.seen.end() && it->second.size() == want.size();
    for (std::size_t i = 0; same && i < want.size(); ++i) same = it->second[i] == float(want[i]);
    report(same, L + " expert indices");
  }
  check("final_norm", "final_norm");
}

}  // namespace test
