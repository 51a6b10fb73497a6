// The gpt-oss forward pass (spec 3), written once for every backend. A chunk of the step plan
// (model/step_plan.hpp) goes through the embedding; then, per layer, the attention block and the
// MoE block, each of which normalises the residual stream, computes its output and adds it back;
// then the final norm and unembedding run on the rows whose logits are wanted. (The sequences
// take the chunk's tokens afterwards: that is bookkeeping on the host, not part of the pass.)
//
// The backend is the seam, at block level: `Blocks` (the host or the CUDA Transformer) supplies
//   embed(chunk)                          the token embeddings into the residual stream
//   attention_block(layer, sliding, chunk) RMSNorm, QKV, RoPE, attention with sinks, out-projection, residual
//   moe_block(layer, chunk)               RMSNorm, router and top-k, the experts' MLPs, weighted sum, residual
//   unembed(chunk)                        final RMSNorm and logits (or their selection) of the wanted rows
// and fuses within a block as it likes.
#pragma once
#include "gptoss/config/model_config.hpp"
#include "gptoss/core/attention_variant.hpp"
#include "gptoss/model/step_plan.hpp"

namespace gptoss {

// The attention variant of a config's sliding layers (its full layers' is FullAttentionWithSinks):
// the window is a compile-time constant unless the config is read from the checkpoint at run time.
template <ModelConfig Config>
using SlidingVariantOf = AttentionVariant<Config.is_dynamic() ? runtime_window : Config.sliding_window, true>;

template <class Blocks>
void forward_pass(Blocks& blocks, const ModelConfig& c, const PlannedChunk& chunk) {
  blocks.embed(chunk);
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    blocks.attention_block(layer, c.is_sliding(layer), chunk);
    blocks.moe_block(layer, chunk);
  }
  blocks.unembed(chunk);
}

}  // namespace gptoss
