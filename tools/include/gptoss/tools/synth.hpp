// Random checkpoints of any shape, in either layout, so that the real 20B and 120B shapes can be
// tested and benchmarked without downloading weights (a tool for tests and benchmarks, not part of
// the library). Values have the scale of trained weights: linear weights of standard deviation
// ~0.02, norm gains near 1, MXFP4 blocks with scales near 2^-7. The same seed gives the same bytes.
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "gptoss/config/config_json.hpp"
#include "gptoss/core/bf16.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/io/layout.hpp"
#include "gptoss/io/safetensors_writer.hpp"

namespace gptoss::tools {

using io::DType, io::Param, io::TensorSpec, io::tensor_name, io::write_safetensors;

namespace synth_detail {

// splitmix64: a fast, well-mixed generator that can start at any point of a stream.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// Uniform in [-1, 1).
inline float uniform(std::uint64_t bits) { return float(double(bits >> 40) * 0x1p-23 - 1.0); }

// How a tensor's values are drawn.
enum class Kind { linear, bias, gain, sinks, mxfp4_blocks, mxfp4_scales };

// FNV-1a: a stable hash of a tensor's name, to key its random stream.
inline std::uint64_t name_hash(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

// Where a tensor's values come from: the stream of its original-layout tensor, from an element
// offset (Hugging Face's q, k and v are row ranges of the original fused qkv), so that the same
// seed gives the same model in both layouts.
struct Source {
  Kind kind;
  std::uint64_t stream;
  std::uint64_t first_element;
};

}  // namespace synth_detail

struct SynthOptions {
  Layout layout = Layout::original;
  std::uint64_t seed = 1;
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;  // bytes written so far
};

inline void synthesize_checkpoint(const ModelConfig& c, const std::filesystem::path& dir, const SynthOptions& opt = {}) {
  using namespace synth_detail;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw io_error(dir.string() + ": cannot create: " + ec.message());
  const Layout L = opt.layout;
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const std::int64_t Q = c.q_width(), KV = c.kv_width(), nb1 = H / 32, nb2 = I / 32;

  std::vector<TensorSpec> specs;
  std::vector<Source> sources;
  auto add_part = [&](Param p, Param original, std::uint64_t first, int layer, DType dt, std::vector<std::int64_t> shape, Kind k) {
    specs.push_back({tensor_name(L, p, layer), dt, std::move(shape)});
    sources.push_back({k, mix(opt.seed ^ name_hash(tensor_name(Layout::original, original, layer))), first});
  };
  auto add = [&](Param p, int layer, DType dt, std::vector<std::int64_t> shape, Kind k) {
    add_part(p, p, 0, layer, dt, std::move(shape), k);
  };
  add(Param::embedding, -1, DType::BF16, {V, H}, Kind::linear);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    add(Param::attn_norm, l, DType::BF16, {H}, Kind::gain);
    if (L == Layout::original) {
      add(Param::qkv, l, DType::BF16, {Q + 2 * KV, H}, Kind::linear);
      add(Param::qkv_bias, l, DType::BF16, {Q + 2 * KV}, Kind::bias);
    } else {
      const std::uint64_t q = std::uint64_t(Q), kv = std::uint64_t(KV), h = std::uint64_t(H);
      add_part(Param::q, Param::qkv, 0, l, DType::BF16, {Q, H}, Kind::linear);
      add_part(Param::k, Param::qkv, q * h, l, DType::BF16, {KV, H}, Kind::linear);
      add_part(Param::v, Param::qkv, (q + kv) * h, l, DType::BF16, {KV, H}, Kind::linear);
      add_part(Param::q_bias, Param::qkv_bias, 0, l, DType::BF16, {Q}, Kind::bias);
      add_part(Param::k_bias, Param::qkv_bias, q, l, DType::BF16, {KV}, Kind::bias);
      add_part(Param::v_bias, Param::qkv_bias, q + kv, l, DType::BF16, {KV}, Kind::bias);
    }
    add(Param::sinks, l, DType::BF16, {c.num_attention_heads}, Kind::sinks);
    add(Param::out, l, DType::BF16, {H, Q}, Kind::linear);
    add(Param::out_bias, l, DType::BF16, {H}, Kind::bias);
    add(Param::mlp_norm, l, DType::BF16, {H}, Kind::gain);
    add(Param::gate, l, DType::BF16, {E, H}, Kind::linear);
    add(Param::gate_bias, l, DType::BF16, {E}, Kind::bias);
    add(Param::mlp1_blocks, l, DType::U8, {E, 2 * I, nb1, 16}, Kind::mxfp4_blocks);
    add(Param::mlp1_scales, l, DType::U8, {E, 2 * I, nb1}, Kind::mxfp4_scales);
    add(Param::mlp1_bias, l, DType::BF16, {E, 2 * I}, Kind::bias);
    add(Param::mlp2_blocks, l, DType::U8, {E, H, nb2, 16}, Kind::mxfp4_blocks);
    add(Param::mlp2_scales, l, DType::U8, {E, H, nb2}, Kind::mxfp4_scales);
    add(Param::mlp2_bias, l, DType::BF16, {E, H}, Kind::bias);
  }
  add(Param::norm, -1, DType::BF16, {H}, Kind::gain);
  add(Param::unembedding, -1, DType::BF16, {V, H}, Kind::linear);

  std::uint64_t total = 0, written = 0;
  for (const auto& s : specs) total += s.bytes();

  auto fill = [&](std::size_t index, std::uint64_t offset, std::span<std::byte> out) {
    // Each element's value depends only on (seed, tensor, element): chunking cannot change it.
    const Source& src = sources[index];
    const std::uint64_t stream = src.stream;
    const Kind kind = src.kind;
    if (specs[index].dtype == DType::U8) {
      for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint64_t r = mix(stream + offset + i);
        // Scales 2^-8 .. 2^-6: with uniform E2M1 codes (RMS ~2.9) the weights' RMS is ~0.02.
        std::uint8_t b = kind == Kind::mxfp4_scales ? std::uint8_t(119 + r % 3) : std::uint8_t(r);
        out[i] = std::byte(b);
      }
    } else {
      for (std::size_t i = 0; i < out.size() / 2; ++i) {
        const std::uint64_t element = src.first_element + offset / 2 + i;
        const float u = uniform(mix(stream + element));
        float v = kind == Kind::linear ? 0.0346f * u   // uniform with standard deviation 0.02
                : kind == Kind::bias   ? 0.05f * u
                : kind == Kind::gain   ? 1.0f + 0.1f * u
                                       : 2.0f * u;     // sinks: logits of order one
        std::uint16_t bits = to_bf16(v).bits;
        std::memcpy(out.data() + 2 * i, &bits, 2);
      }
    }
    written += out.size();
    if (opt.progress) opt.progress(written, total);
  };

  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".safetensors" && entry.path().filename() != "model.safetensors")
      throw io_error(dir.string() + ": already holds " + entry.path().filename().string() + "; choose an empty folder");
  write_safetensors(dir / "model.safetensors", specs, fill);
  std::ofstream cfg(dir / "config.json");
  cfg << config_to_json(c, L).dump(2) << "\n";
  if (!cfg.flush()) throw io_error((dir / "config.json").string() + ": write failed");
}

}  // namespace gptoss::tools
