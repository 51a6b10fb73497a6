// Tensor names of the two checkpoint layouts (spec 6.1 and 6.2), in one place: loading and
// writing checkpoints both go through this table.
#pragma once
#include <string>

#include "gptoss/config/config_json.hpp"

namespace gptoss::io {

enum class Param {
  embedding, norm, unembedding,                          // model-level
  attn_norm, qkv, qkv_bias,                              // original layout: fused q, k, v
  q, k, v, q_bias, k_bias, v_bias,                       // Hugging Face layout: split q, k, v
  sinks, out, out_bias, mlp_norm, gate, gate_bias,
  mlp1_blocks, mlp1_scales, mlp1_bias, mlp2_blocks, mlp2_scales, mlp2_bias,
};

inline std::string tensor_name(Layout layout, Param p, int layer = -1) {
  const bool hf = layout == Layout::huggingface;
  const std::string b = hf ? "model.layers." + std::to_string(layer) + "." : "block." + std::to_string(layer) + ".";
  switch (p) {
    case Param::embedding: return hf ? "model.embed_tokens.weight" : "embedding.weight";
    case Param::norm: return hf ? "model.norm.weight" : "norm.scale";
    case Param::unembedding: return hf ? "lm_head.weight" : "unembedding.weight";
    case Param::attn_norm: return b + (hf ? "input_layernorm.weight" : "attn.norm.scale");
    case Param::qkv: return b + "attn.qkv.weight";
    case Param::qkv_bias: return b + "attn.qkv.bias";
    case Param::q: return b + "self_attn.q_proj.weight";
    case Param::k: return b + "self_attn.k_proj.weight";
    case Param::v: return b + "self_attn.v_proj.weight";
    case Param::q_bias: return b + "self_attn.q_proj.bias";
    case Param::k_bias: return b + "self_attn.k_proj.bias";
    case Param::v_bias: return b + "self_attn.v_proj.bias";
    case Param::sinks: return b + (hf ? "self_attn.sinks" : "attn.sinks");
    case Param::out: return b + (hf ? "self_attn.o_proj.weight" : "attn.out.weight");
    case Param::out_bias: return b + (hf ? "self_attn.o_proj.bias" : "attn.out.bias");
    case Param::mlp_norm: return b + (hf ? "post_attention_layernorm.weight" : "mlp.norm.scale");
    case Param::gate: return b + (hf ? "mlp.router.weight" : "mlp.gate.weight");
    case Param::gate_bias: return b + (hf ? "mlp.router.bias" : "mlp.gate.bias");
    case Param::mlp1_blocks: return b + (hf ? "mlp.experts.gate_up_proj_blocks" : "mlp.mlp1_weight.blocks");
    case Param::mlp1_scales: return b + (hf ? "mlp.experts.gate_up_proj_scales" : "mlp.mlp1_weight.scales");
    case Param::mlp1_bias: return b + (hf ? "mlp.experts.gate_up_proj_bias" : "mlp.mlp1_bias");
    case Param::mlp2_blocks: return b + (hf ? "mlp.experts.down_proj_blocks" : "mlp.mlp2_weight.blocks");
    case Param::mlp2_scales: return b + (hf ? "mlp.experts.down_proj_scales" : "mlp.mlp2_weight.scales");
    case Param::mlp2_bias: return b + (hf ? "mlp.experts.down_proj_bias" : "mlp.mlp2_bias");
  }
  return {};
}

}  // namespace gptoss::io
