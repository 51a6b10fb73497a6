// The whole forward pass against logits computed by the official reference implementation
// (tests/data/tiny, float32 path), through both checkpoint layouts, both ways of instantiating
// the model, prefill and token-by-token decode.
#define BOOST_TEST_MODULE model
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string_view>

#include "common/golden.hpp"
#include "common/greedy.hpp"
#include "common/intermediates.hpp"
#include "gptoss/generate/generate.hpp"
#include "gptoss/host/cpu_features.hpp"
#include "gptoss/model/transformer.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;

namespace {

// GPTOSS_ISA forces an instruction set (tests/host runs this program once per set). On a CPU
// without it the library would quietly run its default, so the whole module is skipped instead,
// by a Boost.Test precondition that says why.
boost::test_tools::assertion_result forced_isa_is_active(boost::unit_test::test_unit_id) {
  using namespace host;
  const char* forced = std::getenv("GPTOSS_ISA");
  boost::test_tools::assertion_result ok(!forced || std::string_view(forced) == isa_name(active_isa()));
  if (!ok)
    ok.message() << "GPTOSS_ISA=" << forced << " cannot be run here: this CPU runs " << isa_name(active_isa())
                 << " (it has: " << cpu_features().describe() << ")";
  return ok;
}
const bool forced_isa_guard = [] {
  boost::unit_test::framework::master_test_suite().add_precondition(forced_isa_is_active);
  return true;
}();

const test::Golden& golden() {
  static test::Golden g;
  return g;
}

template <ModelConfig C>
Transformer<C> open(const std::string& layout, HostOptions opt = {}) {
  return Transformer<C>(io::Checkpoint::open(test::tiny_dir + "/" + layout), opt);
}

template <class Model>
void check_sequence(Model& model, const std::string& seq) {
  auto tokens = golden().tokens(seq + ".tokens");
  auto expect = golden().floats(seq + ".logits_fp32");
  auto s = model.new_sequence(std::int64_t(tokens.size()));
  auto got = model.prefill(s, tokens, Logits::all);
  BOOST_REQUIRE_EQUAL(got.size(), expect.size());
  const double err = test::max_row_relative_error(got.data(), expect.data(), std::int64_t(tokens.size()), 1000);
  BOOST_TEST_MESSAGE(seq << ": max relative error " << err);
  BOOST_TEST(err < test::logits_tolerance, seq << ": relative error " << err);
  BOOST_TEST(s.length() == std::int64_t(tokens.size()));
}

}  // namespace

BOOST_AUTO_TEST_CASE(logits_match_reference_in_both_layouts_and_instantiations) {
  BOOST_TEST_MESSAGE("instruction set: " << host::isa_name(host::active_isa()));
  for (const char* layout : {"original", "hf"}) {
    BOOST_TEST_CONTEXT("layout " << layout) {
      auto compiled = open<tiny_test>(layout);
      auto dynamic = open<dynamic_config>(layout);
      BOOST_TEST((dynamic.config() == tiny_test));
      for (const char* seq : {"seq0", "seq1", "seq2"}) {
        check_sequence(compiled, seq);
        check_sequence(dynamic, seq);
      }
    }
  }
}

// 4160 tokens: past the sliding window many times and past YaRN's original context of 4096.
BOOST_AUTO_TEST_CASE(long_sequence_matches_reference) {
  auto model = open<tiny_test>("original");
  auto tokens = golden().tokens("long.tokens");
  auto positions = golden().tokens("long.positions");
  auto expect = golden().floats("long.logits_fp32");
  auto s = model.new_sequence(std::int64_t(tokens.size()));
  auto got = model.prefill(s, tokens, Logits::all);
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const double err = test::max_row_relative_error(got.data() + std::size_t(positions[i]) * 1000, expect.data() + i * 1000, 1, 1000);
    BOOST_TEST(err < test::logits_tolerance, "position " << positions[i] << ": relative error " << err);
  }
}

// Decoding after 4152 tokens: a call of few tokens splits each token's keys into runs of
// ops::keys_per_item, attended to separately (by any worker) and merged. Three tokens in one
// call, then five decode steps, against the reference, with the same logits for 1 and 3 threads.
BOOST_AUTO_TEST_CASE(decoding_at_long_context_matches_reference) {
  auto tokens = golden().tokens("long.tokens");
  auto positions = golden().tokens("long.positions");
  auto expect = golden().floats("long.logits_fp32");
  const std::size_t prompt = 4152;
  static_assert(ops::split_tokens >= 3 && ops::keys_per_item < 4152 / 2);
  auto expected_row = [&](std::size_t position) {
    const auto i = std::size_t(std::find(positions.begin(), positions.end(), position) - positions.begin());
    BOOST_REQUIRE(i < positions.size());
    return expect.data() + i * 1000;
  };
  std::vector<std::vector<float>> results;
  for (int threads : {1, 3}) {
    auto model = open<tiny_test>("original", {.threads = threads});
    auto s = model.new_sequence(std::int64_t(tokens.size()));
    model.prefill(s, std::span(tokens).first(prompt));
    auto three = model.forward(std::vector<Step>{{s, std::span(tokens).subspan(prompt, 3)}}, Logits::all);
    for (std::size_t i = 0; i < 3; ++i) {
      const double err = test::max_row_relative_error(three.data() + i * 1000, expected_row(prompt + i), 1, 1000);
      BOOST_TEST(err < test::logits_tolerance, "position " << prompt + i << ": relative error " << err);
    }
    std::vector<float> all = three;
    for (std::size_t p = prompt + 3; p < tokens.size(); ++p) {
      auto got = model.decode(s, tokens[p]);
      const double err = test::max_row_relative_error(got.data(), expected_row(p), 1, 1000);
      BOOST_TEST(err < test::logits_tolerance, "position " << p << ": relative error " << err);
      all.insert(all.end(), got.begin(), got.end());
    }
    results.push_back(std::move(all));
  }
  BOOST_TEST(results[0] == results[1]);
}

// Greedy continuation: prefill the prompt, then decode one token at a time with the KV cache.
BOOST_AUTO_TEST_CASE(greedy_decode_matches_reference) {
  const auto prompt = golden().tokens("greedy.prompt");
  const auto expect_tokens = golden().tokens("greedy.tokens_fp32");
  for (const char* layout : {"original", "hf"}) {
    auto model = open<tiny_test>(layout);
    const auto got = test::greedy_against_golden(model, golden(), test::logits_tolerance,
                                                 [&](bool ok, const std::string& what) { BOOST_TEST(ok, layout << " " << what); });
    BOOST_TEST(got == expect_tokens, boost::test_tools::per_element());

    // The generation loop gives the same tokens.
    GenerateOptions opt;
    opt.max_tokens = int(expect_tokens.size());
    BOOST_TEST(generate(model, prompt, opt) == expect_tokens, boost::test_tools::per_element());
  }
}

// The reference's intermediate activations (debug.*), layer by layer: a mismatch points at the op.
BOOST_AUTO_TEST_CASE(intermediates_match_reference) {
  auto model = open<tiny_test>("hf");
  test::TracedActivations traced;
  model.set_trace(traced.recorder());
  auto tokens = golden().tokens("debug.tokens");
  auto s = model.new_sequence(64);
  model.prefill(s, tokens);
  test::compare_intermediates(golden(), traced, std::int64_t(tokens.size()), 1e-5,
                              [](bool ok, const std::string& what) { BOOST_TEST(ok, what); });
}

BOOST_AUTO_TEST_CASE(same_logits_for_any_thread_count) {
  auto tokens = golden().tokens("seq2.tokens");
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    auto model = open<tiny_test>("original", {.threads = threads});
    auto s = model.new_sequence(64);
    results.push_back(model.prefill(s, tokens, Logits::all));
  }
  BOOST_TEST(results[0] == results[1]);
  BOOST_TEST(results[0] == results[2]);
}
