// bench --synthetic: random weights made in memory instead of on disk. The same seed must give the
// same model as `gptoss synth` writes to disk (bit for bit, through the logits), the memory file
// must leave nothing behind, and the option must refuse what it cannot do.
#define BOOST_TEST_MODULE synthetic_model
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/golden.hpp"
#include "common/run.hpp"
#include "gptoss/model/transformer.hpp"
#include "synthetic_model.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;

BOOST_AUTO_TEST_CASE(in_memory_weights_are_those_written_to_disk) {
  ModelConfig c = tiny_test;
  c.num_hidden_layers = 2;
  tools::SynthOptions opt;
  opt.seed = 11;
  test::TempDir dir;
  tools::synthesize_checkpoint(c, dir / "disk", opt);
  std::vector<token_id> prompt{5, 6, 7, 8};
  std::filesystem::path memory_dir;
  std::vector<float> from_memory;
  {
    cli::InMemoryCheckpoint memory(c, opt);
    memory_dir = memory.dir();
    BOOST_TEST(std::filesystem::is_symlink(memory_dir / "model.safetensors"));
    Transformer<dynamic_config> model(memory.open());
    auto seq = model.new_sequence(8);
    from_memory = model.prefill(seq, prompt, Logits::all);
  }
  BOOST_TEST(!std::filesystem::exists(memory_dir));  // the folder goes with the object
  Transformer<dynamic_config> model(io::Checkpoint::open(dir / "disk"));
  auto seq = model.new_sequence(8);
  const auto from_disk = model.prefill(seq, prompt, Logits::all);
  BOOST_REQUIRE_EQUAL(from_memory.size(), std::size_t(4 * 1000));
  BOOST_TEST(from_memory == from_disk);
  BOOST_TEST(std::any_of(from_disk.begin(), from_disk.end(), [](float v) { return v != 0.0f; }));
}

BOOST_AUTO_TEST_CASE(bench_runs_on_synthetic_weights_and_refuses_what_it_cannot_do) {
  auto r = test::run_cli("bench --synthetic tiny -p 8 -n 4 -r 1 --json -q");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  BOOST_TEST(j["prompt"] == 8);
  BOOST_TEST(j["gen"] == 4);
  BOOST_TEST(j["decode_tokens_per_s"].get<double>() > 0);
  BOOST_TEST(r.err.empty(), r.err);  // -q: no progress lines

  r = test::run_cli("bench --synthetic gpt-oss-7b -p 8");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("unknown config 'gpt-oss-7b'") != std::string::npos, r.err);
  r = test::run_cli("bench --synthetic tiny -m " + test::tiny_dir + "/original -p 8");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("exclude each other") != std::string::npos, r.err);
  r = test::run_cli("bench -p 8");
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("--synthetic NAME") != std::string::npos, r.err);
}
