// The loop order the prefill GEMMs share: the tokens a group at a time, the groups as even as they
// can be, each with a tile of its own size.
#pragma once

namespace gptoss::host::detail {

// tile.template operator()<t>(t0) for the t (<= T) tokens left from t0.
template <int T, class Tile>
void gemm_rest(int t, int t0, Tile& tile) {
  if constexpr (T > 0) {
    if (t == T) tile.template operator()<T>(t0);
    else gemm_rest<T - 1>(t, t0, tile);
  }
}

// tile.template operator()<t>(t0) over the tokens [0, tokens) in groups of at most T, as even as
// they can be: a group of few tokens has too few independent accumulators to keep the FMA units
// busy (61 tokens go 11 + 5 x 10 rather than 5 x 12 + 1).
template <int T, class Tile>
void in_token_groups(int tokens, Tile&& tile) {
  if (tokens <= 0) return;
  const int groups = (tokens + T - 1) / T, small = tokens / groups, large = tokens % groups;
  for (int g = 0, t0 = 0; g < groups; ++g) {
    const int t = small + (g < large);
    gemm_rest<T>(t, t0, tile);
    t0 += t;
  }
}

}  // namespace gptoss::host::detail
