// The gptoss program end to end: outputs against the reference's goldens, exit codes and messages.
#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "common/golden.hpp"
#include "common/run.hpp"
#include "gptoss/config/model_config.hpp"
#include "gptoss/io/safetensors.hpp"
#include "gptoss/tools/presets.hpp"

namespace {

std::string join(const std::vector<gptoss::token_id>& v) {
  std::string s;
  for (auto t : v) s += (s.empty() ? "" : ",") + std::to_string(t);
  return s;
}

// Reads a float32 .npy written by `gptoss logits`: returns the shape and the data.
std::pair<std::string, std::vector<float>> read_npy(const std::filesystem::path& p) {
  const std::string bytes = test::read_file(p);
  BOOST_REQUIRE(bytes.size() > 10 && bytes.compare(0, 6, "\x93NUMPY") == 0);
  const std::size_t len = std::uint8_t(bytes[8]) | (std::uint8_t(bytes[9]) << 8);
  const std::string header = bytes.substr(10, len);
  const auto open = header.find("'shape': ("), close = header.find(')', open);
  std::vector<float> data((bytes.size() - 10 - len) / 4);
  std::memcpy(data.data(), bytes.data() + 10 + len, data.size() * 4);
  return {header.substr(open + 10, close - open - 10), data};
}

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == s.size() - 1; }

}  // namespace

BOOST_AUTO_TEST_CASE(logits_match_reference) {
  test::Golden golden;
  const auto tokens = golden.tokens("seq2.tokens");
  const auto expect = golden.floats("seq2.logits_fp32");
  for (const char* layout : {"original", "hf"}) {
    test::TempDir dir;
    auto r = test::run_cli("logits --model " + test::tiny_dir + "/" + layout + " --tokens " + join(tokens) + " --out " +
                           (dir / "l.npy").string());
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto [shape, data] = read_npy(dir / "l.npy");
    BOOST_TEST(shape == "41,1000");
    BOOST_REQUIRE_EQUAL(data.size(), expect.size());
    BOOST_TEST(test::max_row_relative_error(data.data(), expect.data(), 41, 1000) < test::logits_tolerance);
  }
}

// --precision bf16 reaches the model: its logits are near the reference's bf16 run and differ from
// the exact ones; generate and bench take it too, and bench reports it.
BOOST_AUTO_TEST_CASE(precision_bf16_runs_on_every_model_command) {
  test::Golden golden;
  const auto tokens = golden.tokens("seq2.tokens");
  const auto fp32 = golden.floats("seq2.logits_fp32");
  test::TempDir dir;
  auto logits = [&](const std::string& precision) {
    auto r = test::run_cli("logits -m " + test::tiny_dir + "/original --tokens " + join(tokens) + " --precision " +
                           precision + " --out " + (dir / "l.npy").string());
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return read_npy(dir / "l.npy").second;
  };
  const auto exact = logits("exact"), bf16 = logits("bf16");
  BOOST_REQUIRE_EQUAL(bf16.size(), fp32.size());
  BOOST_TEST(test::max_row_relative_error(exact.data(), fp32.data(), 41, 1000) < test::logits_tolerance);
  const double err = test::max_row_relative_error(bf16.data(), fp32.data(), 41, 1000);
  BOOST_TEST(err > test::logits_tolerance);  // bf16 arithmetic, not float32
  BOOST_TEST(err < 0.05);
  auto r = test::run_cli("generate -m " + test::tiny_dir + "/original --tokens 1,2 -n 4 -q --json --precision bf16");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(nlohmann::json::parse(r.out)["tokens"].size() == 4u);
  r = test::run_cli("bench -m " + test::tiny_dir + "/original -p 8 -n 2 -r 1 --json --precision bf16");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(nlohmann::json::parse(r.out)["precision"] == "bf16");
}

BOOST_AUTO_TEST_CASE(greedy_generation_matches_reference) {
  test::Golden golden;
  const auto prompt = golden.tokens("greedy.prompt");
  const auto expect = golden.tokens("greedy.tokens_fp32");
  auto r = test::run_cli("generate --model " + test::tiny_dir + "/hf --tokens " + join(prompt) + " --max-tokens 16 --json --threads 1");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto j = nlohmann::json::parse(r.out);
  BOOST_TEST(j["tokens"].get<std::vector<gptoss::token_id>>() == expect, boost::test_tools::per_element());
  BOOST_TEST(j.size() == 1u);

  // Plain output: the same ids, comma-separated.
  r = test::run_cli("generate --model " + test::tiny_dir + "/original --tokens " + join(prompt) + " --max-tokens 16");
  BOOST_TEST(r.out == join(expect) + "\n");

  // A stop token ends generation and is part of the output.
  r = test::run_cli("generate --model " + test::tiny_dir + "/original --tokens " + join(prompt) + " --max-tokens 16 --json --stop " +
                    std::to_string(expect[3]));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto first4 = std::vector<gptoss::token_id>(expect.begin(), expect.begin() + 4);
  BOOST_TEST(nlohmann::json::parse(r.out)["tokens"].get<std::vector<gptoss::token_id>>() == first4, boost::test_tools::per_element());

  // Sampling with a seed is reproducible.
  const std::string sample = "generate --model " + test::tiny_dir + "/original --tokens 1,2,3 --max-tokens 8 --temperature 1 --top-p 0.9 --seed 5 --json";
  // Both runs must succeed with 8 tokens: two failures would also print the same (nothing).
  const auto first = test::run_cli(sample), second = test::run_cli(sample);
  BOOST_REQUIRE_MESSAGE(first.exit_code == 0 && second.exit_code == 0, first.err + second.err);
  const auto sampled = nlohmann::json::parse(first.out)["tokens"].get<std::vector<gptoss::token_id>>();
  BOOST_TEST(sampled.size() == 8u);
  BOOST_TEST(first.out == second.out);
}

BOOST_AUTO_TEST_CASE(synth_writes_loadable_checkpoints_of_both_layouts) {
  test::TempDir dir;
  for (const char* layout : {"original", "hf"}) {
    auto r = test::run_cli(std::string("synth --config tiny --layers 2 --seed 9 --layout ") + layout + " --out " + (dir / layout).string());
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = test::run_cli("info --model " + (dir / layout).string());
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.find("layers:       2") != std::string::npos, r.out);
  }
  // Same seed, same numbers whatever the layout.
  auto a = test::run_cli("logits --model " + (dir / "original").string() + " --tokens 5,6,7 --out " + (dir / "a.npy").string());
  auto b = test::run_cli("logits --model " + (dir / "hf").string() + " --tokens 5,6,7 --out " + (dir / "b.npy").string());
  BOOST_REQUIRE(a.exit_code == 0 && b.exit_code == 0);
  BOOST_TEST(read_npy(dir / "a.npy").second == read_npy(dir / "b.npy").second);
  // Realistic scale: logits of order one, not zero, not huge.
  auto logits = read_npy(dir / "a.npy").second;
  float amax = 0;
  for (float v : logits) amax = std::max(amax, std::fabs(v));
  BOOST_TEST((amax > 0.05f && amax < 100.0f), "largest |logit| " << amax);
}

// synth --gguf: the same weights for llama.cpp. The file is read back here by the GGUF layout
// (docs of llama.cpp's gguf.h): the header, llama.cpp's tensor names, and value for value the
// experts (MXFP4 blocks repacked: GGUF pairs value j with j + 16 in a byte, the checkpoint j with
// j + 1) and the biases split from the fused gate/up.
BOOST_AUTO_TEST_CASE(synth_writes_the_same_weights_as_gguf) {
  test::TempDir dir;
  const std::string vocab = test::data_dir + "/tokenizer/o200k_base.tiktoken";
  const std::string out = " --out " + (dir / "m").string() + " --gguf " + (dir / "m.gguf").string();
  auto r = test::run_cli("synth --config tiny-harmony --layers 1 -q --vocab " + vocab + out);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);

  const std::string g = test::read_file(dir / "m.gguf");
  std::size_t at = 0;
  auto take = [&](std::size_t n) {
    BOOST_REQUIRE(at + n <= g.size());
    at += n;
    return g.data() + at - n;
  };
  auto u32 = [&] { std::uint32_t v; std::memcpy(&v, take(4), 4); return v; };
  auto u64 = [&] { std::uint64_t v; std::memcpy(&v, take(8), 8); return v; };
  auto str = [&] { const std::uint64_t n = u64(); return std::string(take(n), n); };
  BOOST_REQUIRE(std::string(take(4), 4) == "GGUF");
  BOOST_TEST(u32() == 3u);
  const std::uint64_t n_tensors = u64(), n_kv = u64();
  BOOST_TEST(n_tensors == 3u + 15u);  // embedding, final norm, unembedding; 15 per layer
  std::map<std::string, std::string> strings;
  std::map<std::string, std::uint64_t> array_sizes;
  std::function<void(std::uint32_t)> skip = [&](std::uint32_t type) {
    static const int size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    BOOST_REQUIRE(type <= 12u);
    if (type == 8) str();
    else if (type == 9) {
      const std::uint32_t inner = u32();
      for (std::uint64_t i = 0, n = u64(); i < n; ++i) skip(inner);
    } else take(std::size_t(size[type]));
  };
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = str();
    const std::uint32_t type = u32();
    if (type == 8) strings[key] = str();
    else if (type == 9) {
      const std::uint32_t inner = u32();
      const std::uint64_t n = u64();
      array_sizes[key] = n;
      for (std::uint64_t k = 0; k < n; ++k) skip(inner);
    } else skip(type);
  }
  BOOST_TEST(strings["general.architecture"] == "gpt-oss");
  BOOST_TEST(strings["tokenizer.ggml.model"] == "gpt2");
  BOOST_TEST(array_sizes["tokenizer.ggml.tokens"] == 201088u);
  BOOST_TEST(array_sizes["tokenizer.ggml.merges"] == 199998u - 256u);  // every multi-byte token is a merge
  struct Info {
    std::vector<std::int64_t> ne;
    std::uint32_t type;
    std::uint64_t offset;
  };
  std::map<std::string, Info> tensors;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    const std::string name = str();
    Info t;
    for (std::uint32_t d = 0, n = u32(); d < n; ++d) t.ne.push_back(std::int64_t(u64()));
    t.type = u32();
    t.offset = u64();
    BOOST_TEST(t.offset % 32 == 0u, name);
    tensors[name] = t;
  }
  const std::size_t data = (at + 31) / 32 * 32;

  const auto& c = gptoss::tools::tiny_harmony_test;
  const int E = c.num_experts, I = c.intermediate_size, H = c.hidden_size, nb = H / 32;
  const gptoss::io::SafetensorsFile ck(dir / "m" / "model.safetensors");
  const auto* blocks = reinterpret_cast<const std::uint8_t*>(ck.bytes(*ck.find("block.0.mlp.mlp1_weight.blocks")).data());
  const auto* scales = reinterpret_cast<const std::uint8_t*>(ck.bytes(*ck.find("block.0.mlp.mlp1_weight.scales")).data());
  const auto* bias = reinterpret_cast<const std::uint16_t*>(ck.bytes(*ck.find("block.0.mlp.mlp1_bias")).data());
  for (const auto& [name, odd] : {std::pair{"blk.0.ffn_gate_exps", 0}, std::pair{"blk.0.ffn_up_exps", 1}}) {
    const Info& w = tensors.at(std::string(name) + ".weight");
    BOOST_TEST(w.type == 39u);  // GGML_TYPE_MXFP4
    BOOST_TEST((w.ne == std::vector<std::int64_t>{H, I, E}));
    const auto* q = reinterpret_cast<const std::uint8_t*>(g.data() + data + w.offset);
    int mismatches = 0;
    for (int e = 0; e < E; ++e)
      for (int row = 0; row < I; ++row)
        for (int b = 0; b < nb; ++b) {
          const std::size_t src = (std::size_t(e) * 2 * I + 2 * row + odd) * nb + b;
          const std::uint8_t* block = q + ((std::size_t(e) * I + row) * nb + b) * 17;
          mismatches += block[0] != scales[src];
          for (int j = 0; j < 32; ++j) {
            const int ours = (blocks[src * 16 + j / 2] >> (4 * (j & 1))) & 15;
            const int theirs = j < 16 ? block[1 + j] & 15 : block[1 + j - 16] >> 4;
            mismatches += ours != theirs;
          }
        }
    BOOST_TEST(mismatches == 0, name);
    const Info& bi = tensors.at(std::string(name) + ".bias");
    BOOST_TEST(bi.type == 0u);  // f32
    const auto* f = reinterpret_cast<const float*>(g.data() + data + bi.offset);
    for (int e = 0; e < E; ++e)
      for (int i = 0; i < I; ++i) {
        const std::uint32_t bits = std::uint32_t(bias[e * 2 * I + 2 * i + odd]) << 16;
        float want;
        std::memcpy(&want, &bits, 4);
        BOOST_REQUIRE(f[e * I + i] == want);
      }
  }
  for (const char* name : {"token_embd.weight", "output.weight", "blk.0.attn_qkv.weight", "blk.0.attn_sinks.weight"})
    BOOST_TEST(tensors.count(name) == 1u, name);

  // Only the real vocabulary fits llama.cpp's gpt-oss; only the original layout is read back.
  r = test::run_cli("synth --config tiny --layers 1 -q --vocab " + vocab + " --out " + (dir / "t").string() + " --gguf " +
                    (dir / "t.gguf").string());
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("o200k_harmony vocabulary of 201088 tokens") != std::string::npos, r.err);
  BOOST_TEST(!std::filesystem::exists(dir / "t"));  // refused before writing anything
  r = test::run_cli("synth --config tiny-harmony --layout hf -q" + out);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("--gguf needs --layout original") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_and_failures_exit_1) {
  const std::string model = " --model " + test::tiny_dir + "/original";
  for (const std::string& args : std::vector<std::string>{"", "frobnicate", "generate --tokens 1", "generate" + model, "generate" + model + " --tokens 1,x",
                                 "generate" + model + " --tokens 1 --bogus", "generate" + model + " --tokens 1 --temperature -1",
                                 "logits" + model + " --tokens 1", "synth --config nope --out /tmp/x", "info" + model + " extra",
                                 "generate" + model + " --tokens 1 --max-tokens -4", "info" + model + " --threads -1"}) {
    auto r = test::run_cli(args);
    BOOST_TEST(r.exit_code == 2, "'" << args << "' exited " << r.exit_code);
    BOOST_TEST(r.err.find("usage") != std::string::npos, "'" << args << "' printed no usage: " << r.err);
  }
  for (const std::string& args : std::vector<std::string>{"info --model /nonexistent", "generate" + model + " --tokens 1,1000",
                                  "generate" + model + " --tokens 1 --max-tokens 200000", "info --model " + test::tiny_dir}) {
    auto r = test::run_cli(args);
    BOOST_TEST(r.exit_code == 1, "'" << args << "' exited " << r.exit_code);
    BOOST_TEST(one_line(r.err), "'" << args << "' stderr: " << r.err);
  }
  auto r = test::run_cli("generate" + model + " --tokens 1,1000");
  BOOST_TEST(r.err.find("token id 1000") != std::string::npos, r.err);
  BOOST_TEST(test::run_cli("--help").exit_code == 0);
  BOOST_TEST(test::run_cli("generate --help").out.find("--temperature") != std::string::npos);
}

// The report of `gptoss bench --json`, and --context: blank positions before the prompt add
// exactly their keys and values on the full-attention layers to the bytes a decode step reads.
BOOST_AUTO_TEST_CASE(bench_reports_json_and_counts_the_context) {
  const std::string base = "bench --model " + test::tiny_dir + "/original --prompt 8 --gen 2 --repeat 1 --json";
  nlohmann::json report[2];
  for (int i : {0, 1}) {
    auto r = test::run_cli(base + (i ? " --context 1500" : ""));
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    report[i] = nlohmann::json::parse(r.out);
    for (const char* key : {"prefill_tokens_per_s", "decode_tokens_per_s", "decode_bytes_per_token",
                            "measured_read_GBps", "decode_bandwidth_fraction"})
      BOOST_TEST(report[i].at(key).get<double>() > 0.0, key);
    const double fraction = report[i]["decode_tokens_per_s"].get<double>() *
                            report[i]["decode_bytes_per_token"].get<double>() /
                            (report[i]["measured_read_GBps"].get<double>() * 1e9);
    BOOST_TEST(std::abs(report[i]["decode_bandwidth_fraction"].get<double>() - fraction) <= 1e-9 * fraction);
  }
  BOOST_TEST(report[1]["context"] == 1500);
  // The sliding layers' 8 slots are already full at 8 + 1 tokens of context: only the full layers grow.
  int full_layers = 0;
  for (int l = 0; l < gptoss::tools::tiny_test.num_hidden_layers; ++l) full_layers += !gptoss::tools::tiny_test.is_sliding(l);
  BOOST_TEST(full_layers == 2);
  const double added = 1500.0 * full_layers * 2 /*keys and values*/ * gptoss::tools::tiny_test.kv_width() * sizeof(float);
  BOOST_TEST(report[1]["decode_bytes_per_token"].get<double>() - report[0]["decode_bytes_per_token"].get<double>() == added);
  for (const char* bad : {" --context -1", " --context 200000"})
    BOOST_TEST(test::run_cli(base + bad).exit_code == 2, bad);
}

// Prompt mode and chat on a random model with the real vocabulary: the plumbing works end to end
// (what the model says is random; the Harmony rendering and parsing have their own tests).
BOOST_AUTO_TEST_CASE(prompt_and_chat_run_end_to_end) {
  test::TempDir dir;
  const std::string model = (dir / "m").string(), vocab = test::data_dir + "/tokenizer/o200k_base.tiktoken";
  auto r = test::run_cli("synth --config tiny-harmony --layers 1 --out " + model);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = test::run_cli("generate --model " + model + " --vocab " + vocab + " --prompt 'What is 2 + 2?' --max-tokens 6 --json");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto j = nlohmann::json::parse(r.out);
  BOOST_TEST(j["tokens"].size() <= 6u);
  BOOST_TEST(j["tokens"].size() >= 1u);
  BOOST_TEST(j["messages"].is_array());

  r = test::run_cli("chat --model " + model + " --vocab " + vocab + " --max-tokens 4 --seed 1 --reasoning-effort low", "Hello\n/exit\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  r = test::run_cli("chat --model " + model + " --vocab " + vocab + " --reasoning-effort extreme", "");
  BOOST_TEST(r.exit_code == 2);
  // The tiny fixture's vocabulary has 1000 ids: a rendered prompt does not fit, and says so.
  r = test::run_cli("generate --model " + test::tiny_dir + "/original --vocab " + vocab + " --prompt hi");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("outside the vocabulary") != std::string::npos, r.err);
}
