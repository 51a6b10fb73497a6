// The model's weights as typed views into a checkpoint, whichever layout it is in. Both layouts
// hold the same bytes under different names; Hugging Face's splits the fused QKV projection into
// q, k and v, so the views keep q, k and v apart for both.
#pragma once
#include <string>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/tensor.hpp"
#include "gptoss/io/checkpoint.hpp"

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
  const bool hf = ckpt.layout() == Layout::huggingface;
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const std::int64_t Q = c.q_width(), KV = c.kv_width();
  Weights w;
  w.embedding = ckpt.bf16_matrix(hf ? "model.embed_tokens.weight" : "embedding.weight", V, H);
  w.norm = ckpt.bf16_vector(hf ? "model.norm.weight" : "norm.scale", H);
  w.unembedding = ckpt.bf16_matrix(hf ? "lm_head.weight" : "unembedding.weight", V, H);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    LayerWeights lw;
    AttentionWeights& a = lw.attn;
    MoEWeights& m = lw.mlp;
    if (hf) {
      std::string p = "model.layers." + std::to_string(l) + ".";
      a.norm = ckpt.bf16_vector(p + "input_layernorm.weight", H);
      a.q = ckpt.bf16_matrix(p + "self_attn.q_proj.weight", Q, H);
      a.k = ckpt.bf16_matrix(p + "self_attn.k_proj.weight", KV, H);
      a.v = ckpt.bf16_matrix(p + "self_attn.v_proj.weight", KV, H);
      a.q_bias = ckpt.bf16_vector(p + "self_attn.q_proj.bias", Q);
      a.k_bias = ckpt.bf16_vector(p + "self_attn.k_proj.bias", KV);
      a.v_bias = ckpt.bf16_vector(p + "self_attn.v_proj.bias", KV);
      a.sinks = ckpt.bf16_vector(p + "self_attn.sinks", c.num_attention_heads);
      a.out = ckpt.bf16_matrix(p + "self_attn.o_proj.weight", H, Q);
      a.out_bias = ckpt.bf16_vector(p + "self_attn.o_proj.bias", H);
      m.norm = ckpt.bf16_vector(p + "post_attention_layernorm.weight", H);
      m.gate = ckpt.bf16_matrix(p + "mlp.router.weight", E, H);
      m.gate_bias = ckpt.bf16_vector(p + "mlp.router.bias", E);
      m.mlp1 = ckpt.mxfp4_experts(p + "mlp.experts.gate_up_proj_blocks", p + "mlp.experts.gate_up_proj_scales", E, 2 * I, H);
      m.mlp1_bias = ckpt.bf16_matrix(p + "mlp.experts.gate_up_proj_bias", E, 2 * I);
      m.mlp2 = ckpt.mxfp4_experts(p + "mlp.experts.down_proj_blocks", p + "mlp.experts.down_proj_scales", E, H, I);
      m.mlp2_bias = ckpt.bf16_matrix(p + "mlp.experts.down_proj_bias", E, H);
    } else {
      std::string p = "block." + std::to_string(l) + ".";
      a.norm = ckpt.bf16_vector(p + "attn.norm.scale", H);
      Bf16Matrix qkv = ckpt.bf16_matrix(p + "attn.qkv.weight", Q + 2 * KV, H);
      a.q = {qkv.data, int(Q), int(H)};
      a.k = {qkv.row(Q), int(KV), int(H)};
      a.v = {qkv.row(Q + KV), int(KV), int(H)};
      Bf16Vector qkv_bias = ckpt.bf16_vector(p + "attn.qkv.bias", Q + 2 * KV);
      a.q_bias = {qkv_bias.data, int(Q)};
      a.k_bias = {qkv_bias.data + Q, int(KV)};
      a.v_bias = {qkv_bias.data + Q + KV, int(KV)};
      a.sinks = ckpt.bf16_vector(p + "attn.sinks", c.num_attention_heads);
      a.out = ckpt.bf16_matrix(p + "attn.out.weight", H, Q);
      a.out_bias = ckpt.bf16_vector(p + "attn.out.bias", H);
      m.norm = ckpt.bf16_vector(p + "mlp.norm.scale", H);
      m.gate = ckpt.bf16_matrix(p + "mlp.gate.weight", E, H);
      m.gate_bias = ckpt.bf16_vector(p + "mlp.gate.bias", E);
      m.mlp1 = ckpt.mxfp4_experts(p + "mlp.mlp1_weight.blocks", p + "mlp.mlp1_weight.scales", E, 2 * I, H);
      m.mlp1_bias = ckpt.bf16_matrix(p + "mlp.mlp1_bias", E, 2 * I);
      m.mlp2 = ckpt.mxfp4_experts(p + "mlp.mlp2_weight.blocks", p + "mlp.mlp2_weight.scales", E, H, I);
      m.mlp2_bias = ckpt.bf16_matrix(p + "mlp.mlp2_bias", E, H);
    }
    w.layers.push_back(lw);
  }
  return w;
}

}  // namespace gptoss
