// The model's weights as typed views into a checkpoint, whichever layout it is in. Both layouts
// hold the same bytes under different names; Hugging Face's splits the fused QKV projection into
// q, k and v, so the views keep q, k and v apart for both.
#pragma once
#include <string>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/tensor.hpp"
#include "gptoss/io/checkpoint.hpp"
#include "gptoss/io/layout.hpp"

namespace gptoss {

struct AttentionWeights {
  Bf16Vector norm;                 // [H]
  Bf16Matrix q, k, v;              // [Hq*D, H], [Hkv*D, H], [Hkv*D, H]
  Bf16Vector q_bias, k_bias, v_bias;
  Bf16Vector sinks;                // [Hq]
  Bf16Matrix out;                  // [H, Hq*D]
  Bf16Vector out_bias;             // [H]
};

struct MoEWeights {
  Bf16Vector norm;                 // [H]
  Bf16Matrix gate;                 // router [E, H]
  Bf16Vector gate_bias;            // [E]
  Mxfp4Experts mlp1;               // [E, 2I, H], rows interleaved gate/linear
  Bf16Matrix mlp1_bias;            // [E, 2I]
  Mxfp4Experts mlp2;               // [E, H, I]
  Bf16Matrix mlp2_bias;            // [E, H]
};

struct LayerWeights {
  AttentionWeights attn;
  MoEWeights mlp;
};

struct Weights {
  Bf16Matrix embedding;            // [V, H]
  std::vector<LayerWeights> layers;
  Bf16Vector norm;                 // [H]
  Bf16Matrix unembedding;          // [V, H]
};

// Views every tensor the config needs, checking names, dtypes and shapes (spec 6.1 and 6.2).
inline Weights view_weights(const io::Checkpoint& ckpt, const ModelConfig& c) {
  using io::Param;
  const Layout layout = ckpt.layout();
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const std::int64_t Q = c.q_width(), KV = c.kv_width();
  Weights w;
  w.embedding = ckpt.bf16_matrix(io::tensor_name(layout, Param::embedding), V, H);
  w.norm = ckpt.bf16_vector(io::tensor_name(layout, Param::norm), H);
  w.unembedding = ckpt.bf16_matrix(io::tensor_name(layout, Param::unembedding), V, H);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    auto name = [&](Param p) { return io::tensor_name(layout, p, l); };
    LayerWeights lw;
    AttentionWeights& a = lw.attn;
    MoEWeights& m = lw.mlp;
    a.norm = ckpt.bf16_vector(name(Param::attn_norm), H);
    if (layout == Layout::huggingface) {
      a.q = ckpt.bf16_matrix(name(Param::q), Q, H);
      a.k = ckpt.bf16_matrix(name(Param::k), KV, H);
      a.v = ckpt.bf16_matrix(name(Param::v), KV, H);
      a.q_bias = ckpt.bf16_vector(name(Param::q_bias), Q);
      a.k_bias = ckpt.bf16_vector(name(Param::k_bias), KV);
      a.v_bias = ckpt.bf16_vector(name(Param::v_bias), KV);
    } else {
      // The fused projection's rows are q, then k, then v.
      Bf16Matrix qkv = ckpt.bf16_matrix(name(Param::qkv), Q + 2 * KV, H);
      a.q = {qkv.data, int(Q), int(H)};
      a.k = {qkv.row(Q), int(KV), int(H)};
      a.v = {qkv.row(Q + KV), int(KV), int(H)};
      Bf16Vector bias = ckpt.bf16_vector(name(Param::qkv_bias), Q + 2 * KV);
      a.q_bias = {bias.data, int(Q)};
      a.k_bias = {bias.data + Q, int(KV)};
      a.v_bias = {bias.data + Q + KV, int(KV)};
    }
    a.sinks = ckpt.bf16_vector(name(Param::sinks), c.num_attention_heads);
    a.out = ckpt.bf16_matrix(name(Param::out), H, Q);
    a.out_bias = ckpt.bf16_vector(name(Param::out_bias), H);
    m.norm = ckpt.bf16_vector(name(Param::mlp_norm), H);
    m.gate = ckpt.bf16_matrix(name(Param::gate), E, H);
    m.gate_bias = ckpt.bf16_vector(name(Param::gate_bias), E);
    m.mlp1 = ckpt.mxfp4_experts(name(Param::mlp1_blocks), name(Param::mlp1_scales), E, 2 * I, H);
    m.mlp1_bias = ckpt.bf16_matrix(name(Param::mlp1_bias), E, 2 * I);
    m.mlp2 = ckpt.mxfp4_experts(name(Param::mlp2_blocks), name(Param::mlp2_scales), E, H, I);
    m.mlp2_bias = ckpt.bf16_matrix(name(Param::mlp2_bias), E, H);
    w.layers.push_back(lw);
  }
  return w;
}

}  // namespace gptoss
