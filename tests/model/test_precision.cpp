// Precision::bf16 end to end: its logits against the reference's float32 logits, measured as the
// reference's own bf16 run measures (tests/data/tiny: *.logits_bf16 against *.logits_fp32), and a
// sequence's bf16 logits the same floats whether prefilled in one call or decoded token by token.
// ctest runs these once per instruction set (GPTOSS_ISA), so the AVX512-BF16 kernels, the float32
// kernels fed bf16-rounded activations and the scalar ones are each checked where the CPU has them.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/golden.hpp"
#include "gptoss/config/precision.hpp"
#include "gptoss/model/transformer.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;

namespace {

constexpr std::int64_t vocab = 1000;

Transformer<tiny_test> open_tiny(Precision precision) {
  return Transformer<tiny_test>(io::Checkpoint::open(test::tiny_dir + "/original"), {.precision = precision});
}

// Each row's largest |a - b|, relative to the row's largest |b|.
std::vector<double> row_errors(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> out;
  for (std::size_t r = 0; r * vocab < b.size(); ++r)
    out.push_back(test::max_row_relative_error(a.data() + r * vocab, b.data() + r * vocab, 1, vocab));
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

}  // namespace

BOOST_AUTO_TEST_CASE(precision_names_parse_and_bad_ones_are_input_errors) {
  for (Precision p : {Precision::exact, Precision::bf16}) BOOST_TEST((parse_precision(name(p)) == p));
  for (const char* bad : {"", "BF16", "fp32", "bf16 ", "float"}) BOOST_CHECK_THROW(parse_precision(bad), input_error);
  BOOST_TEST((HostOptions{}.precision == Precision::exact));
}

// The bar: the mean over rows of the bf16 error no larger than the reference's bf16 run's mean,
// the largest within 1.5x of its largest.
BOOST_AUTO_TEST_CASE(bf16_logits_are_as_close_to_float32_as_the_references_bf16_run) {
  const test::Golden golden;
  auto model = open_tiny(Precision::bf16);
  std::vector<double> ours, theirs;
  for (const char* seq : {"seq0", "seq1", "seq2"}) {
    const auto tokens = golden.tokens(std::string(seq) + ".tokens");
    const auto fp32 = golden.floats(std::string(seq) + ".logits_fp32");
    const auto bf16 = golden.floats(std::string(seq) + ".logits_bf16");
    auto s = model.new_sequence(std::int64_t(tokens.size()));
    const auto got = model.prefill(s, tokens, Logits::all);
    BOOST_REQUIRE_EQUAL(got.size(), fp32.size());
    for (double e : row_errors(got, fp32)) ours.push_back(e);
    for (double e : row_errors(bf16, fp32)) theirs.push_back(e);
  }
  const double our_max = *std::max_element(ours.begin(), ours.end());
  const double their_max = *std::max_element(theirs.begin(), theirs.end());
  BOOST_TEST_MESSAGE("bf16 vs float32 reference over " << ours.size() << " rows: mean " << mean(ours) << ", max "
                                                       << our_max << "; the reference's bf16 run: mean "
                                                       << mean(theirs) << ", max " << their_max);
  BOOST_TEST(mean(ours) <= mean(theirs));
  BOOST_TEST(our_max <= 1.5 * their_max);
  // bf16 is in effect: farther from float32 than the exact path's tolerance allows.
  BOOST_TEST(our_max > test::logits_tolerance);
}

// Batch invariance in bf16: the prompt prefilled in one call and token by token, the same floats.
BOOST_AUTO_TEST_CASE(bf16_logits_do_not_depend_on_how_calls_are_made_up) {
  const test::Golden golden;
  const auto tokens = golden.tokens("seq2.tokens");
  auto model = open_tiny(Precision::bf16);
  auto whole = model.new_sequence(std::int64_t(tokens.size()));
  const auto all = model.prefill(whole, tokens, Logits::all);
  auto one = model.new_sequence(std::int64_t(tokens.size()));
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto row = model.decode(one, tokens[i]);
    BOOST_REQUIRE_MESSAGE(std::memcmp(row.data(), all.data() + i * vocab, vocab * sizeof(float)) == 0,
                          "token " << i << ": decoded logits differ from the prefilled ones");
  }
}
