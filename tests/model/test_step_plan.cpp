// StepPlan against plans worked out by hand: chunk boundaries, segments, positions, and which rows
// write which logits rows, for Logits::last and Logits::all.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <span>
#include <vector>

#include "gptoss/model/step_plan.hpp"

using namespace gptoss;

namespace {

// A sequence as far as planning sees one: its length before the call.
struct FakeSequence {
  std::int64_t len;
  std::int64_t length() const { return len; }
};

std::vector<token_id> range(token_id first, int n) {
  std::vector<token_id> v;
  for (int i = 0; i < n; ++i) v.push_back(first + token_id(i));
  return v;
}

template <class T>
std::vector<T> vec(std::span<const T> s) {
  return {s.begin(), s.end()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(step_plan)

// Two sequences, of lengths 10 and 0, append 5 and 3 tokens in chunks of 4 rows:
//   chunk 0: a's tokens 0-3 (positions 10-13)
//   chunk 1: a's token 4 (position 14), b's tokens 0-2 (positions 0-2)
BOOST_AUTO_TEST_CASE(chunks_cut_steps_at_the_token_budget) {
  FakeSequence a{10}, b{0};
  const auto ta = range(100, 5), tb = range(200, 3);
  const std::vector<StepOf<FakeSequence>> steps{{a, ta}, {b, tb}};
  StepPlan plan;
  plan.make(std::span<const StepOf<FakeSequence>>(steps), Logits::last, 4);

  BOOST_TEST_REQUIRE(plan.chunks().size() == 2u);
  const PlannedChunk c0 = plan.chunks()[0], c1 = plan.chunks()[1];
  BOOST_TEST(c0.rows == 4);
  BOOST_TEST(c1.rows == 4);
  BOOST_TEST((vec(plan.tokens(c0)) == std::vector<token_id>{100, 101, 102, 103}));
  BOOST_TEST((vec(plan.tokens(c1)) == std::vector<token_id>{104, 200, 201, 202}));
  BOOST_TEST((vec(plan.positions(c0)) == std::vector<std::int64_t>{10, 11, 12, 13}));
  BOOST_TEST((vec(plan.positions(c1)) == std::vector<std::int64_t>{14, 0, 1, 2}));
  BOOST_TEST((vec(plan.segment_of(c1)) == std::vector<int>{0, 1, 1, 1}));

  // Logits::last: one row per step, written by the last token of its last piece.
  BOOST_TEST(plan.logits_rows() == 2);
  const auto s0 = plan.segments(c0);
  BOOST_TEST_REQUIRE(s0.size() == 1u);
  BOOST_TEST(s0[0].step == 0u);
  BOOST_TEST(s0[0].start == 10);
  BOOST_TEST(s0[0].first_out == s0[0].length);  // a's first piece writes nothing
  const auto s1 = plan.segments(c1);
  BOOST_TEST_REQUIRE(s1.size() == 2u);
  BOOST_TEST(s1[0].step == 0u);
  BOOST_TEST(s1[0].offset == 0);
  BOOST_TEST(s1[0].length == 1);
  BOOST_TEST(s1[0].start == 14);
  BOOST_TEST(s1[0].first_out == 0);
  BOOST_TEST(s1[0].out_row == 0);
  BOOST_TEST(s1[1].step == 1u);
  BOOST_TEST(s1[1].offset == 1);
  BOOST_TEST(s1[1].start == 0);
  BOOST_TEST(s1[1].first_out == 2);
  BOOST_TEST(s1[1].out_row == 1);
  BOOST_TEST(plan.max_position(c0) == 13);
  BOOST_TEST(plan.max_position(c1) == 14);
}

// Logits::all: every token writes its own row, numbered across the steps.
BOOST_AUTO_TEST_CASE(every_row_writes_its_logits_with_logits_all) {
  FakeSequence a{3}, b{7};
  const auto ta = range(1, 3), tb = range(50, 2);
  const std::vector<StepOf<FakeSequence>> steps{{a, ta}, {b, tb}};
  StepPlan plan;
  plan.make(std::span<const StepOf<FakeSequence>>(steps), Logits::all, 2);
  BOOST_TEST(plan.logits_rows() == 5);
  // Chunks of 2 rows: [a0 a1] [a2 b0] [b1].
  BOOST_TEST_REQUIRE(plan.chunks().size() == 3u);
  std::vector<std::int64_t> out_rows;  // per token in call order: the logits row it writes
  for (const PlannedChunk& c : plan.chunks())
    for (const PlannedSegment& s : plan.segments(c)) {
      BOOST_TEST(s.first_out == 0);
      for (std::int64_t j = 0; j < s.length; ++j) out_rows.push_back(s.out_row + j);
    }
  BOOST_TEST((out_rows == std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  BOOST_TEST((vec(plan.positions(plan.chunks()[1])) == std::vector<std::int64_t>{5, 7}));
}

// A new plan replaces the last one entirely.
BOOST_AUTO_TEST_CASE(planning_again_starts_afresh) {
  FakeSequence a{0};
  const auto long_prompt = range(1, 9), one = range(5, 1);
  StepPlan plan;
  const std::vector<StepOf<FakeSequence>> first{{a, long_prompt}};
  plan.make(std::span<const StepOf<FakeSequence>>(first), Logits::all, 4);
  BOOST_TEST(plan.chunks().size() == 3u);
  a.len = 9;
  const std::vector<StepOf<FakeSequence>> decode{{a, one}};
  plan.make(std::span<const StepOf<FakeSequence>>(decode), Logits::last, 4);
  BOOST_TEST_REQUIRE(plan.chunks().size() == 1u);
  const PlannedChunk c = plan.chunks()[0];
  BOOST_TEST(c.first_row == 0);
  BOOST_TEST((vec(plan.tokens(c)) == std::vector<token_id>{5}));
  BOOST_TEST((vec(plan.positions(c)) == std::vector<std::int64_t>{9}));
  BOOST_TEST(plan.logits_rows() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
