// Checkpoint loading: both layouts give the same weights; every broken or mismatched checkpoint
// is rejected with an exception deriving from gptoss::error that names the file, tensor or field.
#include <boost/test/unit_test.hpp>

#include <functional>

#include "common/golden.hpp"
#include "common/temp_dir.hpp"
#include "gptoss/io/checkpoint.hpp"
#include "gptoss/io/safetensors_writer.hpp"
#include "gptoss/model/transformer.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;
namespace fs = std::filesystem;

namespace {

// Copies a tiny layout into `dir`, letting `edit` change or drop (return false) tensor specs and
// change bytes; the header is padded by `pad` extra spaces.
void copy_checkpoint(const std::string& layout, const fs::path& dir,
                     const std::function<bool(io::TensorSpec&)>& edit = {}, std::size_t pad = 0) {
  fs::create_directories(dir);
  fs::copy_file(test::tiny_dir + "/" + layout + "/config.json", dir / "config.json");
  io::SafetensorsFile src(test::tiny_dir + "/" + layout + "/model.safetensors");
  std::vector<io::TensorSpec> specs;
  std::vector<const io::TensorInfo*> from;
  for (const auto& [name, t] : src.tensors()) {
    io::TensorSpec s{name, t.dtype, t.shape};
    if (edit && !edit(s)) continue;
    specs.push_back(s);
    from.push_back(&t);
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::uint64_t off = 0;
  for (const auto& s : specs) {
    header[s.name] = {{"dtype", io::dtype_info(s.dtype).name}, {"shape", s.shape}, {"data_offsets", {off, off + s.bytes()}}};
    off += s.bytes();
  }
  std::string data;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto bytes = src.bytes(*from[i]);
    std::string b(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    b.resize(specs[i].bytes(), '\0');
    data += b;
  }
  test::write_file(dir / "model.safetensors", test::safetensors_bytes(header.dump() + std::string(pad, ' '), data));
}

// The message of the gptoss::error that opening and loading `dir` throws.
template <ModelConfig C = dynamic_config>
std::string load_error(const fs::path& dir) {
  try {
    Transformer<C> model(io::Checkpoint::open(dir));
    return "";
  } catch (const error& e) {
    return e.what();
  }
}

void expect_load_error(const fs::path& dir, const std::string& fragment) {
  const std::string msg = load_error(dir);
  BOOST_TEST(!msg.empty(), "loaded a checkpoint that should fail with: " << fragment);
  BOOST_TEST(msg.find(fragment) != std::string::npos, "message '" << msg << "' lacks '" << fragment << "'");
}

void edit_config(const fs::path& dir, const std::function<void(nlohmann::json&)>& edit) {
  auto j = nlohmann::json::parse(test::read_file(dir / "config.json"));
  edit(j);
  test::write_file(dir / "config.json", j.dump());
}

}  // namespace

BOOST_AUTO_TEST_CASE(both_layouts_view_the_same_weights) {
  auto a = io::Checkpoint::open(test::tiny_dir + "/original");
  auto b = io::Checkpoint::open(test::tiny_dir + "/hf");
  BOOST_TEST((a.layout() == Layout::original));
  BOOST_TEST((b.layout() == Layout::huggingface));
  BOOST_TEST((a.config() == tiny_test));
  BOOST_TEST((b.config() == tiny_test));
  auto wa = view_weights(a, tiny_test), wb = view_weights(b, tiny_test);
  auto same = [](const Bf16Matrix& x, const Bf16Matrix& y) {
    return x.rows == y.rows && x.cols == y.cols && std::memcmp(x.data, y.data, std::size_t(x.rows) * x.cols * 2) == 0;
  };
  for (int l = 0; l < 4; ++l) {
    BOOST_TEST(same(wa.layers[l].attn.q, wb.layers[l].attn.q));
    BOOST_TEST(same(wa.layers[l].attn.k, wb.layers[l].attn.k));
    BOOST_TEST(same(wa.layers[l].attn.v, wb.layers[l].attn.v));
    BOOST_TEST(std::memcmp(wa.layers[l].mlp.mlp1.blocks, wb.layers[l].mlp.mlp1.blocks, 8 * 192 * 80) == 0);
  }
  BOOST_TEST(same(wa.unembedding, wb.unembedding));
}

BOOST_AUTO_TEST_CASE(misaligned_tensors_are_copied_and_still_correct) {
  test::TempDir dir;
  copy_checkpoint("original", dir.path(), {}, 1);  // an odd header length misaligns every BF16 tensor
  Transformer<tiny_test> model(io::Checkpoint::open(dir.path()));
  test::Golden golden;
  auto tokens = golden.tokens("seq1.tokens");
  auto s = model.new_sequence(16);
  auto got = model.prefill(s, tokens, Logits::all);
  auto expect = golden.floats("seq1.logits_fp32");
  BOOST_TEST(test::max_row_relative_error(got.data(), expect.data(), 7, 1000) < test::logits_tolerance);
}

BOOST_AUTO_TEST_CASE(tensor_problems_name_the_tensor) {
  for (const std::string layout : {"original", "hf"}) {
    const std::string norm = layout == "original" ? "block.2.mlp.norm.scale" : "model.layers.2.post_attention_layernorm.weight";
    const std::string scales = layout == "original" ? "block.1.mlp.mlp2_weight.scales" : "model.layers.1.mlp.experts.down_proj_scales";
    {
      test::TempDir dir;
      copy_checkpoint(layout, dir.path(), [&](io::TensorSpec& s) { return s.name != norm; });
      expect_load_error(dir.path(), "tensor '" + norm + "' is missing");
    }
    {
      test::TempDir dir;
      copy_checkpoint(layout, dir.path(), [&](io::TensorSpec& s) {
        if (s.name == norm) s.dtype = io::DType::F32;
        return true;
      });
      expect_load_error(dir.path(), "tensor '" + norm + "' has dtype F32, expected BF16");
    }
    {
      test::TempDir dir;
      copy_checkpoint(layout, dir.path(), [&](io::TensorSpec& s) {
        if (s.name == scales) s.shape[2] += 1;
        return true;
      });
      expect_load_error(dir.path(), "tensor '" + scales + "' has shape [8, 160, 4], expected [8, 160, 3]");
    }
  }
}

BOOST_AUTO_TEST_CASE(truncated_and_corrupt_files) {
  test::TempDir dir;
  copy_checkpoint("original", dir.path());
  const std::string whole = test::read_file(dir / "model.safetensors");
  test::write_file(dir / "model.safetensors", whole.substr(0, whole.size() / 2));
  expect_load_error(dir.path(), "truncated");
  std::string flipped = whole;
  flipped[8] = '[';  // the header's opening brace
  test::write_file(dir / "model.safetensors", flipped);
  expect_load_error(dir.path(), "model.safetensors");
  test::write_file(dir / "model.safetensors", "");
  expect_load_error(dir.path(), "truncated");
  fs::remove(dir / "model.safetensors");
  expect_load_error(dir.path(), "no *.safetensors files");
  fs::remove(dir / "config.json");
  expect_load_error(dir.path(), "config.json");
  expect_load_error(dir / "nonexistent", "not a directory");
}

BOOST_AUTO_TEST_CASE(config_problems_name_the_field) {
  auto with_config = [](const std::string& layout, const std::function<void(nlohmann::json&)>& edit, const std::string& fragment) {
    test::TempDir dir;
    copy_checkpoint(layout, dir.path());
    edit_config(dir.path(), edit);
    expect_load_error(dir.path(), fragment);
  };
  with_config("original", [](auto& j) { j.erase("head_dim"); }, "missing field 'head_dim'");
  with_config("original", [](auto& j) { j["hidden_size"] = 100; }, "hidden_size must be a multiple of 32");
  with_config("original", [](auto& j) { j["num_experts"] = "eight"; }, "field 'num_experts'");
  with_config("original", [](auto& j) { j["experts_per_token"] = 2.5; }, "field 'experts_per_token'");
  with_config("original", [](auto& j) { j["num_key_value_heads"] = 3; }, "multiple of num_key_value_heads");
  with_config("original", [](auto& j) { j["experts_per_token"] = 9; }, "experts_per_token exceeds");
  with_config("original", [](auto& j) { j["rope_ntk_beta"] = 0.5; }, "YaRN");
  with_config("original", [](auto& j) { j = nlohmann::json::array(); }, "not a JSON object");
  // A shape that parses but does not match the tensors.
  with_config("original", [](auto& j) { j["intermediate_size"] = 64; }, "has shape");
  with_config("hf", [](auto& j) { j.erase("quantization_config"); }, "mxfp4");
  with_config("hf", [](auto& j) { j["rope_scaling"].erase("factor"); }, "rope_scaling.factor");
  with_config("hf", [](auto& j) { j["layer_types"][0] = "full_attention"; }, "layer_types[0]");
  with_config("hf", [](auto& j) { j["model_type"] = "llama"; }, "model_type");
  {
    test::TempDir dir;
    copy_checkpoint("original", dir.path());
    test::write_file(dir / "config.json", "{\"num_hidden_layers\": 4,");
    expect_load_error(dir.path(), "config.json: not valid JSON");
  }
}

BOOST_AUTO_TEST_CASE(compiled_config_must_match) {
  const std::string msg = load_error<gpt_oss_20b>(test::tiny_dir + "/hf");
  BOOST_TEST(msg.find("num_hidden_layers is 4 but this program was compiled for 24") != std::string::npos, msg);
  try {
    Transformer<gpt_oss_120b> m(io::Checkpoint::open(test::tiny_dir + "/original"));
    BOOST_FAIL("loaded the tiny checkpoint as 120B");
  } catch (const config_error&) {
  }
}

BOOST_AUTO_TEST_CASE(sharded_hf_checkpoints) {
  test::TempDir dir;
  copy_checkpoint("hf", dir.path());
  // Split into two shards with an index, as the Hugging Face converter writes them.
  io::SafetensorsFile whole(dir / "model.safetensors");
  nlohmann::json index{{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  std::vector<io::TensorSpec> shard[2];
  std::vector<const io::TensorInfo*> from[2];
  int i = 0;
  for (const auto& [name, t] : whole.tensors()) {
    const int s = i++ % 2;
    shard[s].push_back({name, t.dtype, t.shape});
    from[s].push_back(&t);
    index["weight_map"][name] = "model-0000" + std::to_string(s) + "-of-00001.safetensors";
  }
  for (int s = 0; s < 2; ++s)
    io::write_safetensors(dir / ("model-0000" + std::to_string(s) + "-of-00001.safetensors"), shard[s],
                          [&](std::size_t k, std::uint64_t off, std::span<std::byte> out) {
                            auto b = whole.bytes(*from[s][k]);
                            std::memcpy(out.data(), b.data() + off, out.size());
                          });
  test::write_file(dir / "model.safetensors.index.json", index.dump());
  fs::remove(dir / "model.safetensors");
  BOOST_TEST(load_error(dir.path()).empty(), load_error(dir.path()));
  // Every tensor comes from its shard: the logits are the reference's (seq2, 41 tokens).
  {
    Transformer<tiny_test> model(io::Checkpoint::open(dir.path()));
    test::Golden golden;
    const auto tokens = golden.tokens("seq2.tokens");
    auto s = model.new_sequence(64);
    const auto got = model.prefill(s, tokens, Logits::all);
    const auto expect = golden.floats("seq2.logits_fp32");
    BOOST_REQUIRE_EQUAL(got.size(), expect.size());
    BOOST_TEST(test::max_row_relative_error(got.data(), expect.data(), 41, 1000) < test::logits_tolerance);
  }

  fs::remove(dir / "model-00001-of-00001.safetensors");
  expect_load_error(dir.path(), "model-00001-of-00001.safetensors");
}

BOOST_AUTO_TEST_CASE(duplicate_tensors_across_files) {
  test::TempDir dir;
  copy_checkpoint("original", dir.path());
  fs::copy_file(dir / "model.safetensors", dir / "again.safetensors");
  expect_load_error(dir.path(), "also appears in");
}
