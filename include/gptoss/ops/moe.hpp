// MoELayer<Experts, TopK> (spec 3.4): the router picks TopK of Experts per token and weights them
// by a softmax over the chosen logits; each chosen expert runs MXFP4 MLP1 (interleaved gate and
// linear rows), the clamped SwiGLU and MXFP4 MLP2, each with its bias; the outputs are summed
// with the routing weights. Experts or TopK of 0 take the config's value at run time.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/math.hpp"
#include "gptoss/host/kernels.hpp"
#include "gptoss/io/weights.hpp"
#include "gptoss/ops/workspace.hpp"

namespace gptoss::ops {

template <int Experts = 0, int TopK = 0>
class MoELayer {
 public:
  static int experts(const ModelConfig& c) { return Experts ? Experts : c.num_experts; }
  static int top_k(const ModelConfig& c) { return TopK ? TopK : c.experts_per_token; }

  // x_norm: [tokens, H]; out: [tokens, H].
  static void forward(const ModelConfig& c, int layer, const MoEWeights& w, const float* x_norm, Workspace& ws,
                      float* out) {
    using namespace host;
    const std::int64_t T = ws.tokens;
    const int H = c.hidden_size, I = c.intermediate_size, E = experts(c), K = top_k(c);

    float* logits = ws.buffer(ws.router, T * E);
    matmul(Bf16Rows{w.gate}, &w.gate_bias, x_norm, H, int(T), logits, E, ws.pool, ws.scratch, ws.kernels);
    ws.trace("router_logits", layer, logits, T, E);

    std::vector<int>& chosen = Workspace::buffer_vector(ws.chosen, T * K);
    std::vector<float>& weight = Workspace::buffer_vector(ws.route_weight, T * K);
    for (std::int64_t t = 0; t < T; ++t) math::route_top_k(logits + t * E, E, K, &chosen[t * K], &weight[t * K]);
    if (ws.tracer) {
      std::vector<float> idx(chosen.begin(), chosen.begin() + T * K);
      ws.trace("expert_indices", layer, idx.data(), T, K);
      ws.trace("expert_weights", layer, weight.data(), T, K);
    }

    // Group the (token, rank) pairs by expert so each expert's weights are read once per call.
    std::vector<std::int64_t>& order = Workspace::buffer_vector(ws.order, T * K);
    std::vector<std::int64_t>& first = Workspace::buffer_vector(ws.expert_first, E + 1);
    std::vector<std::int64_t>& fill = Workspace::buffer_vector(ws.expert_fill, E);
    std::fill(first.begin(), first.begin() + E + 1, 0);
    for (std::int64_t i = 0; i < T * K; ++i) ++first[chosen[i] + 1];
    for (int e = 0; e < E; ++e) first[e + 1] += first[e];
    std::copy_n(first.begin(), E, fill.begin());
    for (std::int64_t i = 0; i < T * K; ++i) order[fill[chosen[i]]++] = i;

    float* y = ws.buffer(ws.expert_out, T * K * H);  // row i = token i / K, rank i % K
    for (int e = 0; e < E; ++e) {
      const std::int64_t n = first[e + 1] - first[e];
      if (n == 0) continue;
      const std::int64_t* rows = order.data() + first[e];
      float* xe = ws.buffer(ws.gathered, n * H);
      for (std::int64_t i = 0; i < n; ++i) std::copy_n(x_norm + (rows[i] / K) * H, H, xe + i * H);

      float* h1 = ws.buffer(ws.h1, n * 2 * I);
      const Bf16Vector b1{w.mlp1_bias.row(e), 2 * I};
      matmul(Mxfp4Rows{w.mlp1.expert(e)}, &b1, xe, H, int(n), h1, 2 * I, ws.pool, ws.scratch, ws.kernels);

      float* act = ws.buffer(ws.act, n * I);
      for (std::int64_t i = 0; i < n * I; ++i) act[i] = math::swiglu(h1[2 * i], h1[2 * i + 1], c.swiglu_limit);

      float* ye = ws.buffer(ws.gathered, n * H);  // xe is no longer needed
      const Bf16Vector b2{w.mlp2_bias.row(e), H};
      matmul(Mxfp4Rows{w.mlp2.expert(e)}, &b2, act, I, int(n), ye, H, ws.pool, ws.scratch, ws.kernels);
      for (std::int64_t i = 0; i < n; ++i) std::copy_n(ye + i * H, H, y + rows[i] * H);
    }

    for (std::int64_t t = 0; t < T; ++t) {
      float* o = out + t * H;
      std::fill(o, o + H, 0.0f);
      for (int r = 0; r < K; ++r) {
        const float wr = weight[t * K + r];
        const float* yr = y + (t * K + r) * H;
        for (int i = 0; i < H; ++i) o[i] += wr * yr[i];
      }
    }
  }
};

}  // namespace gptoss::ops
