// The model's weights in device memory, uploaded once in their stored form (bf16 stays bf16,
// MXFP4 blocks and scales stay MXFP4) into one allocation. The views are the host's own types
// (Bf16Matrix, Mxfp4Experts, ...) pointing at device memory. q, k and v of either checkpoint
// layout are placed one after the other, so the QKV projection is one product.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/tensor.hpp"
#include "gptoss/cuda/memory.cuh"
#include "gptoss/io/weights.hpp"

namespace gptoss::gpu {

// Told the bytes uploaded so far, of the total.
using UploadProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct DeviceLayer {
  Bf16Vector attn_norm;
  Bf16Matrix qkv;       // [Hq*D + 2*Hkv*D, H]: q rows, k rows, v rows
  Bf16Vector qkv_bias;
  Bf16Vector sinks;
  Bf16Matrix out;
  Bf16Vector out_bias;
  Bf16Vector mlp_norm;
  Bf16Matrix gate;
  Bf16Vector gate_bias;
  Mxfp4Experts mlp1;
  Bf16Matrix mlp1_bias;
  Mxfp4Experts mlp2;
  Bf16Matrix mlp2_bias;
};

class DeviceWeights {
 public:
  // Bytes the upload will take (each tensor 256-byte aligned), computed without allocating.
  static std::size_t bytes_needed(const Weights& w, const ModelConfig& c) {
    Plan plan;
    layout(w, c, plan, nullptr);
    return plan.bytes;
  }

  // Uploads every tensor, telling `progress` (when given) the bytes copied so far.
  DeviceWeights(const Weights& w, const ModelConfig& c, const UploadProgress& progress, cudaStream_t stream) {
    Plan plan;
    layout(w, c, plan, nullptr);
    arena_ = DeviceBuffer<std::uint8_t>(plan.bytes);
    plan.base = arena_.get();
    plan.bytes = 0;
    layout(w, c, plan, this);
    upload(plan, progress, stream);
  }

  const DeviceLayer& layer(int l) const { return layers_[std::size_t(l)]; }
  Bf16Matrix embedding, unembedding;
  Bf16Vector norm;
  std::size_t bytes() const { return arena_.bytes(); }

 private:
  struct Copy {
    const void* src;
    std::size_t bytes;
    std::uint8_t* dst;
  };
  struct Plan {
    std::uint8_t* base = nullptr;  // null while only measuring
    std::size_t bytes = 0;
    std::vector<Copy> copies;
  };

  // Reserves room for `pieces` copied one after the other; returns where they start on the device.
  static std::uint8_t* place(Plan& plan, std::initializer_list<std::pair<const void*, std::size_t>> pieces) {
    plan.bytes = (plan.bytes + 255) / 256 * 256;
    std::uint8_t* start = plan.base ? plan.base + plan.bytes : nullptr;
    for (const auto& [src, n] : pieces) {
      if (plan.base) plan.copies.push_back({src, n, plan.base + plan.bytes});
      plan.bytes += n;
    }
    return start;
  }
  static std::size_t sz(const Bf16Matrix& m) { return std::size_t(m.rows) * std::size_t(m.cols) * sizeof(bf16); }
  static std::size_t sz(const Bf16Vector& v) { return std::size_t(v.size) * sizeof(bf16); }
  static Bf16Matrix matrix(Plan& p, const Bf16Matrix& m) {
    return {reinterpret_cast<const bf16*>(place(p, {{m.data, sz(m)}})), m.rows, m.cols};
  }
  static Bf16Vector vector(Plan& p, const Bf16Vector& v) {
    return {reinterpret_cast<const bf16*>(place(p, {{v.data, sz(v)}})), v.size};
  }
  static Mxfp4Experts experts(Plan& p, const Mxfp4Experts& m) {
    const std::size_t elems = std::size_t(m.experts) * std::size_t(m.rows) * std::size_t(m.cols);
    const auto* blocks = place(p, {{m.blocks, elems / 2}});
    const auto* scales = place(p, {{m.scales, elems / mxfp4::block_elems}});
    return {blocks, scales, m.experts, m.rows, m.cols};
  }

  // Walks every tensor once: measuring (out == nullptr) or assigning device addresses.
  static void layout(const Weights& w, const ModelConfig& c, Plan& p, DeviceWeights* out) {
    Bf16Matrix emb = matrix(p, w.embedding), unemb = matrix(p, w.unembedding);
    Bf16Vector norm = vector(p, w.norm);
    if (out) out->embedding = emb, out->unembedding = unemb, out->norm = norm;
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      const LayerWeights& lw = w.layers[std::size_t(l)];
      const AttentionWeights& a = lw.attn;
      const MoEWeights& m = lw.mlp;
      DeviceLayer d;
      d.attn_norm = vector(p, a.norm);
      d.qkv = {reinterpret_cast<const bf16*>(place(p, {{a.q.data, sz(a.q)}, {a.k.data, sz(a.k)}, {a.v.data, sz(a.v)}})),
               a.q.rows + a.k.rows + a.v.rows, a.q.cols};
      d.qkv_bias = {reinterpret_cast<const bf16*>(
                        place(p, {{a.q_bias.data, sz(a.q_bias)}, {a.k_bias.data, sz(a.k_bias)}, {a.v_bias.data, sz(a.v_bias)}})),
                    a.q_bias.size + a.k_bias.size + a.v_bias.size};
      d.sinks = vector(p, a.sinks);
      d.out = matrix(p, a.out);
      d.out_bias = vector(p, a.out_bias);
      d.mlp_norm = vector(p, m.norm);
      d.gate = matrix(p, m.gate);
      d.gate_bias = vector(p, m.gate_bias);
      d.mlp1 = experts(p, m.mlp1);
      d.mlp1_bias = matrix(p, m.mlp1_bias);
      d.mlp2 = experts(p, m.mlp2);
      d.mlp2_bias = matrix(p, m.mlp2_bias);
      if (out) out->layers_.push_back(d);
    }
    p.bytes = (p.bytes + 255) / 256 * 256;
  }

  // Copies in pieces of at most 64 MiB, reporting progress (each whole percent) between them.
  static void upload(const Plan& plan, const UploadProgress& progress, cudaStream_t stream) {
    constexpr std::size_t piece = std::size_t(64) << 20;
    std::size_t total = 0, done = 0;
    for (const Copy& c : plan.copies) total += c.bytes;  // the arena's alignment padding is not copied
    int shown = -1;
    for (const Copy& c : plan.copies) {
      for (std::size_t off = 0; off < c.bytes; off += piece) {
        const std::size_t n = std::min(piece, c.bytes - off);
        GPTOSS_CUDA_CHECK(cudaMemcpyAsync(c.dst + off, static_cast<const std::uint8_t*>(c.src) + off, n,
                                          cudaMemcpyHostToDevice, stream));
        done += n;
        const int pct = int(100.0 * double(done) / double(total));
        if (progress && pct != shown) {
          GPTOSS_CUDA_CHECK(cudaStreamSynchronize(stream));  // the count is of bytes really copied
          progress(done, total);
          shown = pct;
        }
      }
    }
    GPTOSS_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

  DeviceBuffer<std::uint8_t> arena_;
  std::vector<DeviceLayer> layers_;
};

}  // namespace gptoss::gpu
