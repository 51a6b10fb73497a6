// The loop order the prefill GEMMs share: columns a block at a time, and within a block the tokens
// a group at a time, the last, smaller group with a tile of its own size.
#pragma once
#include <algorithm>

namespace gptoss::host_detail {

// rows.template operator()<t>(k0, n, t0) for the t (<= T) tokens left.
template <int T, class AllRows>
void gemm_rest(int t, int k0, int n, int t0, AllRows& rows) {
  if constexpr (T > 0) {
    if (t == T) rows.template operator()<T>(k0, n, t0);
    else gemm_rest<T - 1>(t, k0, n, t0, rows);
  }
}

// Calls rows.template operator()<t>(k0, n, t0) over columns [k0, k0 + n) for the t tokens from t0:
// Columns columns and T tokens at a time. The blocks follow one another in a fixed order, so each
// output's partial sums are added in the same order whatever the number of tokens.
template <int Columns, int T, class AllRows>
void gemm_in_blocks(int cols, int tokens, AllRows&& rows) {
  for (int k0 = 0; k0 < cols; k0 += Columns) {
    const int n = std::min(Columns, cols - k0);
    int t0 = 0;
    for (; t0 + T <= tokens; t0 += T) rows.template operator()<T>(k0, n, t0);
    gemm_rest<T - 1>(tokens - t0, k0, n, t0, rows);
  }
}

}  // namespace gptoss::host_detail
