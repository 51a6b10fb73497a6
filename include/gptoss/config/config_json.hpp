// Reading config.json (original or Hugging Face field names, spec 1.1) into a ModelConfig, checking
// every value, and checking it against the configuration a program was compiled for.
#pragma once
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/core/json.hpp"

namespace gptoss {

enum class Layout { original, huggingface };
inline const char* layout_name(Layout l) { return l == Layout::original ? "original" : "huggingface"; }

namespace detail {

inline nlohmann::json read_json_file(const std::filesystem::path& path, std::size_t max_bytes = 16u << 20) {
  // Opening a FIFO would wait for a writer forever.
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw io_error(path.string() + ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path.string() + ": cannot open");
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, std::size_t(in.gcount()));
    if (text.size() > max_bytes) throw format_error(path.string() + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  // Error messages show offending values with dump(): 64 levels are far more than a config needs.
  return parse_json(text, path.string(), 64);
}

// Looks up a field, following a path of keys ("rope_scaling", "factor"); null when absent.
inline const nlohmann::json* find_field(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* node = &j;
  for (const char* key : path) {
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
  }
  return node;
}

}  // namespace detail

// Parses a config.json; the layout is told by its field names (`num_experts` in the original,
// `num_local_experts` in Hugging Face's).
inline ModelConfig parse_config(const nlohmann::json& j, const std::string& where, Layout* layout_out = nullptr) {
  if (!j.is_object()) throw format_error(where + ": not a JSON object");
  const bool hf = j.contains("num_local_experts") || j.contains("model_type");
  using path = std::initializer_list<const char*>;

  auto field = [&](std::initializer_list<path> alternatives, const char* shown) -> const nlohmann::json& {
    for (const auto& p : alternatives)
      if (auto* f = detail::find_field(j, p)) return *f;
    throw format_error(where + ": missing field '" + shown + "'");
  };
  auto integer = [&](std::initializer_list<path> alts, const char* shown, long lo, long hi) {
    const auto& v = field(alts, shown);
    double d = v.is_number() ? v.get<double>() : NAN;
    if (!(d >= double(lo) && d <= double(hi)) || d != std::floor(d))
      throw format_error(where + ": field '" + shown + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
    return int(d);
  };
  auto real = [&](std::initializer_list<path> alts, const char* shown, double lo, double hi) {
    const auto& v = field(alts, shown);
    double d = v.is_number() ? v.get<double>() : NAN;
    if (!(d >= lo && d <= hi))
      throw format_error(where + ": field '" + shown + "' must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
    return float(d);
  };

  ModelConfig c{};
  if (hf) {
    if (auto* mt = detail::find_field(j, {"model_type"}); mt && *mt != "gpt_oss")
      throw format_error(where + ": model_type is " + mt->dump() + ", not \"gpt_oss\"");
    auto* q = detail::find_field(j, {"quantization_config", "quant_method"});
    if (!q || *q != "mxfp4")
      throw format_error(where + ": quantization_config.quant_method is not \"mxfp4\"; only checkpoints whose experts are stored in MXFP4 are supported");
    if (auto* rt = detail::find_field(j, {"rope_scaling", "rope_type"}); rt && *rt != "yarn")
      throw format_error(where + ": rope_scaling.rope_type is " + rt->dump() + ", not \"yarn\"");
  }
  c.num_hidden_layers = integer({{"num_hidden_layers"}}, "num_hidden_layers", 1, 1024);
  c.num_experts = hf ? integer({{"num_local_experts"}}, "num_local_experts", 1, 4096) : integer({{"num_experts"}}, "num_experts", 1, 4096);
  c.experts_per_token = integer({{"num_experts_per_tok"}, {"experts_per_token"}}, hf ? "num_experts_per_tok" : "experts_per_token", 1, 64);
  c.vocab_size = integer({{"vocab_size"}}, "vocab_size", 1, 1 << 24);
  c.hidden_size = integer({{"hidden_size"}}, "hidden_size", 32, 1 << 16);
  c.intermediate_size = integer({{"intermediate_size"}}, "intermediate_size", 32, 1 << 16);
  c.swiglu_limit = real({{"swiglu_limit"}}, "swiglu_limit", 0.0, 1e6);
  c.head_dim = integer({{"head_dim"}}, "head_dim", 2, 512);
  c.num_attention_heads = integer({{"num_attention_heads"}}, "num_attention_heads", 1, 1024);
  c.num_key_value_heads = integer({{"num_key_value_heads"}}, "num_key_value_heads", 1, 1024);
  c.sliding_window = integer({{"sliding_window"}}, "sliding_window", 1, 1 << 24);
  c.initial_context_length = hf ? integer({{"rope_scaling", "original_max_position_embeddings"}, {"initial_context_length"}},
                                          "rope_scaling.original_max_position_embeddings", 1, 1 << 24)
                                : integer({{"initial_context_length"}}, "initial_context_length", 1, 1 << 24);
  c.rope_theta = real({{"rope_theta"}}, "rope_theta", 1.0, 1e12);
  c.rope_scaling_factor = hf ? real({{"rope_scaling", "factor"}}, "rope_scaling.factor", 1.0, 1e6)
                             : real({{"rope_scaling_factor"}}, "rope_scaling_factor", 1.0, 1e6);
  c.rope_ntk_alpha = hf ? real({{"rope_scaling", "beta_slow"}}, "rope_scaling.beta_slow", 1e-6, 1e6)
                        : real({{"rope_ntk_alpha"}}, "rope_ntk_alpha", 1e-6, 1e6);
  c.rope_ntk_beta = hf ? real({{"rope_scaling", "beta_fast"}}, "rope_scaling.beta_fast", 1e-6, 1e6)
                       : real({{"rope_ntk_beta"}}, "rope_ntk_beta", 1e-6, 1e6);

  auto require = [&](bool ok, const std::string& what) {
    if (!ok) throw format_error(where + ": " + what);
  };
  require(c.hidden_size % 32 == 0, "hidden_size must be a multiple of 32 (the MXFP4 block)");
  require(c.intermediate_size % 32 == 0, "intermediate_size must be a multiple of 32 (the MXFP4 block)");
  require(c.head_dim % 2 == 0, "head_dim must be even (RoPE rotates pairs)");
  require(c.num_attention_heads % c.num_key_value_heads == 0, "num_attention_heads must be a multiple of num_key_value_heads");
  require(c.experts_per_token <= c.num_experts, "experts_per_token exceeds the number of experts");
  if (c.rope_scaling_factor > 1.0f) {
    // The YaRN ramp needs 0 < low < high < D/2 - 1 (the reference asserts it).
    double two_pi = 6.283185307179586, half = c.head_dim / 2.0;
    double low = half * std::log(c.initial_context_length / (c.rope_ntk_beta * two_pi)) / std::log(c.rope_theta);
    double high = half * std::log(c.initial_context_length / (c.rope_ntk_alpha * two_pi)) / std::log(c.rope_theta);
    require(0 < low && low < high && high < half - 1, "YaRN parameters give an empty or out-of-range ramp (need 0 < low < high < head_dim/2 - 1)");
  }
  if (hf) {
    if (auto* lt = detail::find_field(j, {"layer_types"})) {
      require(lt->is_array() && int(lt->size()) == c.num_hidden_layers, "layer_types must list one type per layer");
      for (int l = 0; l < c.num_hidden_layers; ++l)
        require((*lt)[l] == (c.is_sliding(l) ? "sliding_attention" : "full_attention"),
                "layer_types[" + std::to_string(l) + "] must be " + (c.is_sliding(l) ? "sliding_attention" : "full_attention"));
    }
  }
  if (layout_out) *layout_out = hf ? Layout::huggingface : Layout::original;
  return c;
}

inline ModelConfig read_config(const std::filesystem::path& path, Layout* layout_out = nullptr) {
  return parse_config(detail::read_json_file(path), path.string(), layout_out);
}

// The config.json of a layout: the 16 keys of the original, or the Hugging Face file's fields.
inline nlohmann::ordered_json config_to_json(const ModelConfig& c, Layout layout) {
  nlohmann::ordered_json j;
  if (layout == Layout::original) {
    j = {{"num_hidden_layers", c.num_hidden_layers}, {"num_experts", c.num_experts},
         {"experts_per_token", c.experts_per_token}, {"vocab_size", c.vocab_size},
         {"hidden_size", c.hidden_size}, {"intermediate_size", c.intermediate_size},
         {"swiglu_limit", c.swiglu_limit}, {"head_dim", c.head_dim},
         {"num_attention_heads", c.num_attention_heads}, {"num_key_value_heads", c.num_key_value_heads},
         {"sliding_window", c.sliding_window}, {"initial_context_length", c.initial_context_length},
         {"rope_theta", c.rope_theta}, {"rope_scaling_factor", c.rope_scaling_factor},
         {"rope_ntk_alpha", c.rope_ntk_alpha}, {"rope_ntk_beta", c.rope_ntk_beta}};
    return j;
  }
  std::vector<std::string> layer_types;
  for (int l = 0; l < c.num_hidden_layers; ++l) layer_types.push_back(c.is_sliding(l) ? "sliding_attention" : "full_attention");
  j = {{"architectures", {"GptOssForCausalLM"}}, {"model_type", "gpt_oss"}, {"attention_bias", true},
       {"attention_dropout", 0.0}, {"head_dim", c.head_dim}, {"hidden_act", "silu"},
       {"hidden_size", c.hidden_size}, {"initial_context_length", c.initial_context_length},
       {"intermediate_size", c.intermediate_size}, {"layer_types", layer_types},
       {"max_position_embeddings", c.max_context()}, {"num_attention_heads", c.num_attention_heads},
       {"num_experts_per_tok", c.experts_per_token}, {"experts_per_token", c.experts_per_token},
       {"num_hidden_layers", c.num_hidden_layers}, {"num_key_value_heads", c.num_key_value_heads},
       {"num_local_experts", c.num_experts}, {"rms_norm_eps", 1e-05},
       {"rope_scaling", {{"beta_fast", c.rope_ntk_beta}, {"beta_slow", c.rope_ntk_alpha}, {"factor", c.rope_scaling_factor},
                         {"original_max_position_embeddings", c.initial_context_length}, {"rope_type", "yarn"}, {"truncate", false}}},
       {"rope_theta", c.rope_theta}, {"sliding_window", c.sliding_window}, {"swiglu_limit", c.swiglu_limit},
       {"tie_word_embeddings", false}, {"use_cache", true}, {"vocab_size", c.vocab_size},
       {"quantization_config", {{"quant_method", "mxfp4"}, {"modules_to_not_convert",
           {"model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"}}}}};
  return j;
}

// Throws config_error naming the first field where a checkpoint differs from the compiled config.
inline void check_config(const ModelConfig& compiled, const ModelConfig& found, const std::string& where) {
  auto check = [&](const char* name, auto want, auto got) {
    if (want != got) {
      std::ostringstream s;
      s << where << ": " << name << " is " << got << " but this program was compiled for " << want;
      throw config_error(s.str());
    }
  };
  check("num_hidden_layers", compiled.num_hidden_layers, found.num_hidden_layers);
  check("num_experts", compiled.num_experts, found.num_experts);
  check("experts_per_token", compiled.experts_per_token, found.experts_per_token);
  check("vocab_size", compiled.vocab_size, found.vocab_size);
  check("hidden_size", compiled.hidden_size, found.hidden_size);
  check("intermediate_size", compiled.intermediate_size, found.intermediate_size);
  check("swiglu_limit", compiled.swiglu_limit, found.swiglu_limit);
  check("head_dim", compiled.head_dim, found.head_dim);
  check("num_attention_heads", compiled.num_attention_heads, found.num_attention_heads);
  check("num_key_value_heads", compiled.num_key_value_heads, found.num_key_value_heads);
  check("sliding_window", compiled.sliding_window, found.sliding_window);
  check("initial_context_length", compiled.initial_context_length, found.initial_context_length);
  check("rope_theta", compiled.rope_theta, found.rope_theta);
  check("rope_scaling_factor", compiled.rope_scaling_factor, found.rope_scaling_factor);
  check("rope_ntk_alpha", compiled.rope_ntk_alpha, found.rope_ntk_alpha);
  check("rope_ntk_beta", compiled.rope_ntk_beta, found.rope_ntk_beta);
}

}  // namespace gptoss
