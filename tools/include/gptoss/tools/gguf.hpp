// An original-layout checkpoint written again as a GGUF file of llama.cpp's "gpt-oss" architecture,
// value for value, so that the two programs can be timed on the same weights (tools/compare-llama.sh).
// A tool for benchmarks, not part of the library.
//
// What llama.cpp reads: GGUF version 3 (magic, counts, key/value pairs, tensor descriptions, then
// the data, each tensor at a multiple of 32 bytes); dimensions innermost first. The expert weights
// stay MXFP4 (GGML type 39: per block of 32 values one E8M0 scale byte, then 16 bytes whose low
// nibbles hold values 0..15 and high nibbles values 16..31; the checkpoint packs the even value in
// the low nibble). The fused gate/up experts are split into gate (even rows) and up (odd rows).
// Matrices stay bf16; vectors (norms, biases, sinks) are written as f32, the exact widening of
// their bf16 values, since llama.cpp's CPU kernels add and multiply by f32 vectors.
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gptoss/core/error.hpp"
#include "gptoss/core/math.hpp"
#include "gptoss/core/mxfp4.hpp"
#include "gptoss/io/checkpoint.hpp"
#include "gptoss/io/layout.hpp"
#include "gptoss/text/tokenizer.hpp"

namespace gptoss::tools {

namespace gguf_detail {

enum ValueType : std::uint32_t { u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9 };
enum TensorType : std::uint32_t { t_f32 = 0, t_bf16 = 30, t_mxfp4 = 39 };
inline constexpr std::uint64_t alignment = 32;

// Little-endian bytes of the header, built in memory before anything is written.
struct Header {
  std::string bytes;
  std::uint64_t kv_count = 0;
  template <class T>
  void raw(T v) { bytes.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(std::string_view s) { raw<std::uint64_t>(s.size()); bytes.append(s); }
  void key(std::string_view k, ValueType t) { str(k); raw<std::uint32_t>(t); ++kv_count; }
  void kv_u32(std::string_view k, std::uint32_t v) { key(k, u32); raw(v); }
  void kv_f32(std::string_view k, float v) { key(k, f32); raw(v); }
  void kv_bool(std::string_view k, bool v) { key(k, boolean); raw<std::uint8_t>(v); }
  void kv_str(std::string_view k, std::string_view v) { key(k, string); str(v); }
  void kv_strings(std::string_view k, const std::vector<std::string>& v) {
    key(k, array); raw<std::uint32_t>(string); raw<std::uint64_t>(v.size());
    for (const auto& s : v) str(s);
  }
  void kv_i32s(std::string_view k, const std::vector<std::int32_t>& v) {
    key(k, array); raw<std::uint32_t>(i32); raw<std::uint64_t>(v.size());
    for (auto x : v) raw(x);
  }
};

// GPT-2's reversible byte-to-text map, which llama.cpp's "gpt2" vocabularies use for token text:
// printable bytes stand for themselves, the other 68 are shifted to U+0100 and up.
inline std::string gpt2_text(std::string_view bytes) {
  static const auto table = [] {
    std::vector<std::string> t(256);
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
      const int cp = printable ? b : 256 + shifted++;
      t[b] = cp < 0x80 ? std::string(1, char(cp))
                       : std::string{char(0xc0 | (cp >> 6)), char(0x80 | (cp & 0x3f))};
    }
    return t;
  }();
  std::string out;
  for (unsigned char b : bytes) out += table[b];
  return out;
}

// The merges of a tiktoken vocabulary, which stores ranks only: the two tokens that a token is
// merged from are what byte-pair merging of its bytes, with the lower ranks alone, ends with.
inline std::vector<std::string> bpe_merges(const text::BpeRanks& ranks) {
  std::vector<std::string> merges;
  std::vector<std::string_view> parts;
  for (std::uint32_t r = 0; r < ranks.size(); ++r) {
    const std::string_view t = ranks.bytes(r);
    if (t.size() < 2) continue;
    parts.clear();
    for (std::size_t i = 0; i < t.size(); ++i) parts.push_back(t.substr(i, 1));
    for (;;) {
      std::uint32_t best = text::BpeRanks::none;
      std::size_t at = 0;
      for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        const std::uint32_t m = ranks.rank(std::string_view(parts[i].data(), parts[i].size() + parts[i + 1].size()));
        if (m < r && m < best) best = m, at = i;
      }
      if (best == text::BpeRanks::none) break;
      parts[at] = std::string_view(parts[at].data(), parts[at].size() + parts[at + 1].size());
      parts.erase(parts.begin() + std::ptrdiff_t(at) + 1);
    }
    if (parts.size() == 2) merges.push_back(gpt2_text(parts[0]) + " " + gpt2_text(parts[1]));
  }
  return merges;
}

// One GGUF tensor: its name, dimensions (innermost first), type, size, and how its bytes are made.
struct Tensor {
  std::string name;
  std::vector<std::int64_t> ne;
  TensorType type;
  std::uint64_t bytes;
  std::function<void(std::ostream&)> write;
};

inline void put(std::ostream& out, const void* p, std::size_t n) { out.write(static_cast<const char*>(p), std::streamsize(n)); }

}  // namespace gguf_detail

// Writes `ck` (original layout) as a GGUF file at `path`, with the o200k_harmony vocabulary of
// `tok`. `progress` is told the bytes of tensor data written so far.
inline void write_gguf(const io::Checkpoint& ck, const text::Tokenizer& tok, const std::string& name,
                       const std::filesystem::path& path,
                       const std::function<void(std::uint64_t, std::uint64_t)>& progress = {}) {
  using namespace gguf_detail;
  using io::DType, io::Param;
  const ModelConfig& c = ck.config();
  if (ck.layout() != Layout::original)
    throw format_error(ck.dir().string() + ": GGUF is written from an original-layout checkpoint only");
  if (std::size_t(c.vocab_size) != tok.vocab_size())
    throw format_error(ck.dir().string() + ": a vocabulary of " + std::to_string(c.vocab_size) +
                      " tokens; llama.cpp's gpt-oss needs the o200k_harmony vocabulary of " +
                      std::to_string(tok.vocab_size()) + " tokens (e.g. --config tiny-harmony)");
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const std::int64_t QKV = c.qkv_width(), Q = c.q_width();
  auto tname = [](Param p, int layer = -1) { return io::tensor_name(Layout::original, p, layer); };

  std::vector<Tensor> tensors;
  // A bf16 matrix [rows, cols] as it is: GGUF's {cols, rows}.
  auto matrix = [&](std::string gguf, Param p, int layer, std::int64_t rows, std::int64_t cols) {
    const auto& e = ck.expect(tname(p, layer), DType::BF16, {rows, cols});
    const auto src = e.file->bytes(*e.info);
    tensors.push_back({std::move(gguf), {cols, rows}, t_bf16, src.size(), [src](std::ostream& out) {
                         put(out, src.data(), src.size());
                       }});
  };
  // bf16 values as f32: every `step`-th from `first`, of `groups` runs of `n` (a [groups, n] tensor).
  auto vector_f32 = [&](std::string gguf, Param p, int layer, std::vector<std::int64_t> shape,
                        std::vector<std::int64_t> ne, std::int64_t first, std::int64_t step) {
    const std::string n = tname(p, layer);
    const auto& e = shape.size() == 1 ? ck.expect(n, DType::BF16, {shape[0]}) : ck.expect(n, DType::BF16, {shape[0], shape[1]});
    const auto src = e.file->bytes(*e.info);
    std::int64_t count = 1;
    for (auto d : ne) count *= d;
    tensors.push_back({std::move(gguf), ne, t_f32, std::uint64_t(count) * 4, [src, first, step, count](std::ostream& out) {
                         std::vector<float> v(static_cast<std::size_t>(count));
                         for (std::int64_t i = 0; i < count; ++i) {
                           std::uint16_t b;
                           std::memcpy(&b, src.data() + 2 * (first + i * step), 2);
                           const std::uint32_t bits = std::uint32_t(b) << 16;
                           std::memcpy(&v[std::size_t(i)], &bits, 4);
                         }
                         put(out, v.data(), v.size() * 4);
                       }});
  };
  // MXFP4 experts [E, rows, cols]: every `step`-th row from `first`, repacked block by block.
  auto experts = [&](std::string gguf, Param blocks, Param scales, int layer, std::int64_t rows, std::int64_t cols,
                     std::int64_t first, std::int64_t step) {
    const std::int64_t nb = cols / mxfp4::block_elems, out_rows = rows / step;
    const auto& b = ck.expect(tname(blocks, layer), DType::U8, {E, rows, nb, 16});
    const auto& s = ck.expect(tname(scales, layer), DType::U8, {E, rows, nb});
    const auto bsrc = b.file->bytes(*b.info), ssrc = s.file->bytes(*s.info);
    tensors.push_back({std::move(gguf), {cols, out_rows, E}, t_mxfp4, std::uint64_t(E * out_rows * nb * 17),
                       [=](std::ostream& out) {
                         std::vector<std::uint8_t> buf(std::size_t(out_rows * nb * 17));
                         for (std::int64_t x = 0; x < E; ++x) {
                           std::uint8_t* o = buf.data();
                           for (std::int64_t r = 0; r < out_rows; ++r) {
                             const std::int64_t row = x * rows + first + r * step;
                             for (std::int64_t k = 0; k < nb; ++k) {
                               const auto* in = reinterpret_cast<const std::uint8_t*>(bsrc.data()) + (row * nb + k) * 16;
                               *o++ = std::uint8_t(ssrc[std::size_t(row * nb + k)]);
                               // value j = nibble j of the block (even j low); GGUF pairs j with j + 16.
                               auto nib = [in](int j) { return (in[j / 2] >> (4 * (j & 1))) & 15; };
                               for (int j = 0; j < 16; ++j) *o++ = std::uint8_t(nib(j) | (nib(j + 16) << 4));
                             }
                           }
                           put(out, buf.data(), buf.size());
                         }
                       }});
  };

  matrix("token_embd.weight", Param::embedding, -1, V, H);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string blk = "blk." + std::to_string(l) + ".";
    vector_f32(blk + "attn_norm.weight", Param::attn_norm, l, {H}, {H}, 0, 1);
    matrix(blk + "attn_qkv.weight", Param::qkv, l, QKV, H);
    vector_f32(blk + "attn_qkv.bias", Param::qkv_bias, l, {QKV}, {QKV}, 0, 1);
    vector_f32(blk + "attn_sinks.weight", Param::sinks, l, {c.num_attention_heads}, {c.num_attention_heads}, 0, 1);
    matrix(blk + "attn_output.weight", Param::out, l, H, Q);
    vector_f32(blk + "attn_output.bias", Param::out_bias, l, {H}, {H}, 0, 1);
    vector_f32(blk + "post_attention_norm.weight", Param::mlp_norm, l, {H}, {H}, 0, 1);
    matrix(blk + "ffn_gate_inp.weight", Param::gate, l, E, H);
    vector_f32(blk + "ffn_gate_inp.bias", Param::gate_bias, l, {E}, {E}, 0, 1);
    // mlp1 interleaves gate (even) and up (odd) outputs.
    experts(blk + "ffn_gate_exps.weight", Param::mlp1_blocks, Param::mlp1_scales, l, 2 * I, H, 0, 2);
    experts(blk + "ffn_up_exps.weight", Param::mlp1_blocks, Param::mlp1_scales, l, 2 * I, H, 1, 2);
    experts(blk + "ffn_down_exps.weight", Param::mlp2_blocks, Param::mlp2_scales, l, H, I, 0, 1);
    vector_f32(blk + "ffn_gate_exps.bias", Param::mlp1_bias, l, {E, 2 * I}, {I, E}, 0, 2);
    vector_f32(blk + "ffn_up_exps.bias", Param::mlp1_bias, l, {E, 2 * I}, {I, E}, 1, 2);
    vector_f32(blk + "ffn_down_exps.bias", Param::mlp2_bias, l, {E, H}, {H, E}, 0, 1);
  }
  vector_f32("output_norm.weight", Param::norm, -1, {H}, {H}, 0, 1);
  matrix("output.weight", Param::unembedding, -1, V, H);

  Header h;
  const std::string arch = "gpt-oss";
  h.kv_str("general.architecture", arch);
  h.kv_str("general.name", name);
  h.kv_u32("general.alignment", alignment);
  h.kv_u32(arch + ".context_length", std::uint32_t(c.max_context()));
  h.kv_u32(arch + ".embedding_length", std::uint32_t(H));
  h.kv_u32(arch + ".feed_forward_length", std::uint32_t(I));
  h.kv_u32(arch + ".expert_feed_forward_length", std::uint32_t(I));
  h.kv_u32(arch + ".block_count", std::uint32_t(c.num_hidden_layers));
  h.kv_u32(arch + ".expert_count", std::uint32_t(E));
  h.kv_u32(arch + ".expert_used_count", std::uint32_t(c.experts_per_token));
  h.kv_u32(arch + ".attention.head_count", std::uint32_t(c.num_attention_heads));
  h.kv_u32(arch + ".attention.head_count_kv", std::uint32_t(c.num_key_value_heads));
  h.kv_u32(arch + ".attention.key_length", std::uint32_t(c.head_dim));
  h.kv_u32(arch + ".attention.value_length", std::uint32_t(c.head_dim));
  h.kv_f32(arch + ".attention.layer_norm_rms_epsilon", math::rms_norm_eps);
  h.kv_u32(arch + ".attention.sliding_window", std::uint32_t(c.sliding_window));
  h.kv_u32(arch + ".rope.dimension_count", std::uint32_t(c.head_dim));
  h.kv_f32(arch + ".rope.freq_base", c.rope_theta);
  h.kv_str(arch + ".rope.scaling.type", "yarn");
  h.kv_f32(arch + ".rope.scaling.factor", c.rope_scaling_factor);
  h.kv_u32(arch + ".rope.scaling.original_context_length", std::uint32_t(c.initial_context_length));

  // The vocabulary: o200k's ranks are the token ids; the Harmony specials are control tokens.
  const auto& ranks = tok.ranks();
  std::vector<std::string> texts;
  std::vector<std::int32_t> types;
  for (std::size_t id = 0; id < tok.vocab_size(); ++id) {
    const bool special = tok.is_special(token_id(id));
    texts.push_back(special ? std::string(tok.token_bytes(token_id(id))) : gpt2_text(ranks.bytes(std::uint32_t(id))));
    types.push_back(special ? 3 : 1);  // llama.cpp's CONTROL : NORMAL
  }
  h.kv_str("tokenizer.ggml.model", "gpt2");
  h.kv_str("tokenizer.ggml.pre", "gpt-4o");
  h.kv_strings("tokenizer.ggml.tokens", texts);
  h.kv_i32s("tokenizer.ggml.token_type", types);
  h.kv_strings("tokenizer.ggml.merges", bpe_merges(ranks));
  h.kv_u32("tokenizer.ggml.bos_token_id", 199998);      // <|startoftext|>
  h.kv_u32("tokenizer.ggml.eos_token_id", 200002);      // <|return|>
  h.kv_u32("tokenizer.ggml.padding_token_id", 199999);  // <|endoftext|>
  h.kv_bool("tokenizer.ggml.add_bos_token", false);

  Header infos;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    infos.str(t.name);
    infos.raw<std::uint32_t>(std::uint32_t(t.ne.size()));
    for (auto d : t.ne) infos.raw<std::int64_t>(d);
    infos.raw<std::uint32_t>(t.type);
    infos.raw<std::uint64_t>(offset);
    offset += (t.bytes + alignment - 1) / alignment * alignment;
  }
  const std::uint64_t total = offset;

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw io_error(path.string() + ": cannot create");
  out.write("GGUF", 4);
  const std::uint32_t version = 3;
  const std::uint64_t n_tensors = tensors.size();
  put(out, &version, 4);
  put(out, &n_tensors, 8);
  put(out, &h.kv_count, 8);
  out << h.bytes << infos.bytes;
  const char zeros[alignment] = {};
  auto pad = [&] {
    const auto at = std::uint64_t(out.tellp());
    put(out, zeros, (alignment - at % alignment) % alignment);
  };
  pad();
  std::uint64_t done = 0;
  for (const auto& t : tensors) {
    t.write(out);
    pad();
    done += (t.bytes + alignment - 1) / alignment * alignment;
    if (progress) progress(done, total);
  }
  if (!out.flush()) throw io_error(path.string() + ": write failed");
}

}  // namespace gptoss::tools
