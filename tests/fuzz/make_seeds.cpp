// Writes the seed corpora of the fuzz targets into the folder given (tests/fuzz/corpus), from the
// library's own writers and the test data: a one-layer checkpoint of the smallest valid shape in
// both layouts, the first ranks of the vocabulary, tokenizer cases, Harmony cases. Each seed is a
// few KB, so that the corpora stay small in the repository and libFuzzer's mutations reach
// every field.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gptoss/tools/synth.hpp"
#include "gptoss/text/vocab_file.hpp"
#include "gptoss/tools/presets.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::vector<json> cases(const fs::path& jsonl) {
  std::vector<json> out;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// The encoding of fuzz_harmony_parse: two bytes per token.
std::string harmony_tokens(std::uint8_t flags, const json& ids) {
  std::string out(1, char(flags));
  for (std::uint32_t id : ids) {
    unsigned v = id <= 0xEFFF ? id : id >= 199990 && id < 199990 + 0x800 ? 0xF000 + (id - 199990) : 0xFFFF;
    out += char(v & 255);
    out += char(v >> 8);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds tests/fuzz/corpus\n");
    return 2;
  }
  const fs::path out = argv[1], data = GPTOSS_TEST_DATA;

  // Checkpoints: the smallest shape that passes every config check (YaRN included).
  gptoss::ModelConfig c = gptoss::tools::tiny_test;
  c.num_hidden_layers = 1;
  c.num_experts = c.experts_per_token = 1;
  c.vocab_size = 8;
  c.hidden_size = c.intermediate_size = 32;
  c.head_dim = 8;
  c.num_attention_heads = c.num_key_value_heads = 1;
  c.sliding_window = 2;
  const fs::path tmp = fs::temp_directory_path() / "gptoss-make-seeds";
  for (auto layout : {gptoss::Layout::original, gptoss::Layout::huggingface}) {
    fs::remove_all(tmp);
    gptoss::tools::synthesize_checkpoint(c, tmp, {.layout = layout});
    const std::string name = gptoss::layout_name(layout);
    const std::string config = read(tmp / "config.json"), weights = read(tmp / "model.safetensors");
    write(out / "safetensors" / name, weights);
    write(out / "checkpoint" / name, config + '\0' + weights);
    if (layout == gptoss::Layout::huggingface) {
      json index = {{"weight_map", json::object()}};
      const gptoss::io::SafetensorsFile file(tmp / "model.safetensors");
      for (const auto& [tensor, _] : file.tensors())
        index["weight_map"][tensor] = "model-00001-of-00001.safetensors";
      write(out / "checkpoint" / "hf-sharded", config + '\0' + index.dump() + '\0' + weights);
    }
  }
  fs::remove_all(tmp);
  // Every dtype and the metadata block, which the model's checkpoints do not use.
  {
    std::vector<gptoss::io::TensorSpec> specs;
    for (const auto& d : gptoss::io::dtype_table) specs.push_back({std::string("t.") + d.name, d.dtype, {2, 1}});
    gptoss::io::write_safetensors(tmp, specs, [](std::size_t, std::uint64_t, std::span<std::byte> b) {
      for (auto& x : b) x = std::byte{0x3f};
    }, {{"format", "pt"}});
    write(out / "safetensors" / "dtypes", read(tmp));
    fs::remove(tmp);
  }

  // Vocabulary files: the first ranks of o200k_base.tiktoken, the same as a tokenizer.json.
  {
    std::ifstream in(data / "tokenizer/o200k_base.tiktoken");
    std::string tiktoken, line;
    json vocab = json::object();
    const auto& cp = gptoss::text::detail::gpt2_byte_to_cp();
    for (int rank = 0; rank < 48 && std::getline(in, line); ++rank) {
      tiktoken += line + "\n";
      std::string bytes, key;
      gptoss::text::detail::decode_base64(line.substr(0, line.find(' ')), bytes);
      for (unsigned char b : bytes) gptoss::text::utf8::append(key, cp[b]);
      vocab[key] = rank;
    }
    write(out / "vocab" / "o200k_base.tiktoken", '\0' + tiktoken);
    json added = json::array({{{"id", 199998}, {"content", "<|startoftext|>"}, {"special", true}},
                              {{"id", 200006}, {"content", "<|start|>"}, {"special", true}}});
    write(out / "vocab" / "tokenizer.json",
          '\0' + json{{"version", "1.0"}, {"added_tokens", added}, {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"! !"}}}}}.dump());
    write(out / "vocab" / "bpe-lines", "\1ab\nabc\nbc\nabcd\nhello\n he\nll\nlo");
  }

  // Tokenizer: short cases of each mode, and their ids for decoding.
  int n = 0, i = 0;
  for (const auto& t : cases(data / "tokenizer/cases.jsonl")) {
    const std::string hex = t.value("input_hex", "");
    if (i++ % 12 != 0 || hex.size() > 400 || !t.contains("ids")) continue;
    std::string text;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) text += char(std::stoi(hex.substr(i, 2), nullptr, 16));
    const std::string mode = t.value("mode", "ordinary");
    const char m = mode == "ordinary" ? 0 : mode == "special_all" ? 1 : 2;
    write(out / "tokenizer" / ("text-" + std::to_string(n)), std::string(1, m) + text);
    std::string ids(1, 3);
    for (std::uint32_t id : t["ids"]) ids.append(reinterpret_cast<const char*>(&id), 4);
    write(out / "tokenizer" / ("ids-" + std::to_string(n)), ids);
    ++n;
  }

  // Harmony: render and parse requests as the command reads them, and parse inputs as tokens.
  int renders = 0, parses = 0;
  for (auto h : cases(data / "harmony/cases.jsonl")) {
    const std::string kind = h["kind"];
    if (kind == "render" && h.dump().size() < 2000 && renders < 8) {
      write(out / "harmony_json" / ("render-" + std::to_string(renders++)), json{{"render", h["render"]}, {"messages", h["messages"]}}.dump());
    } else if (kind == "parse" || kind == "stream") {
      const json& in = h["input"];
      if (parses++ % 8 == 0) write(out / "harmony_json" / ("parse-" + h["id"].get<std::string>()), json{{"input", in}}.dump());
      const bool strict = in.value("strict", true);
      const int role = in.contains("role") && in["role"].is_string() ? 1 : 0;
      write(out / "harmony_parse" / h["id"].get<std::string>(), harmony_tokens(std::uint8_t(strict | role << 1), in["tokens"]));
    }
  }
  return 0;
}
