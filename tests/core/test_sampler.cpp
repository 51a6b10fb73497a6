// Sampling: greedy is argmax; filters keep exactly the tokens they should; seeds reproduce.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <algorithm>
#include <map>
#include <random>

#include "gptoss/generate/sampler.hpp"

using namespace gptoss;

BOOST_AUTO_TEST_CASE(greedy_is_first_argmax) {
  std::vector<float> l{0.1f, 5.0f, -3.0f, 5.0f};
  Sampler s;
  BOOST_TEST(s.sample(l) == 1u);
  std::vector<float> with_nan{NAN, 1.0f, 2.0f};
  BOOST_TEST(argmax(with_nan) == 2u);
}

BOOST_AUTO_TEST_CASE(filters_restrict_the_support) {
  std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto support = [&](SamplingOptions o) {
    std::map<token_id, int> seen;
    Sampler s(o);
    for (int i = 0; i < 4000; ++i) ++seen[s.sample(l)];
    return seen;
  };
  auto all = support({.temperature = 1.0f, .seed = 1});
  BOOST_TEST(all.size() == 4u);
  // Frequencies near the probabilities (4000 draws: 0.5 +- 0.05 with overwhelming probability).
  BOOST_TEST(std::fabs(all[0] / 4000.0 - 0.5) < 0.05);
  BOOST_TEST(std::fabs(all[3] / 4000.0 - 0.05) < 0.02);
  BOOST_TEST(support({.temperature = 1.0f, .top_k = 2, .seed = 1}).size() == 2u);
  // top_p = 0.75: 0.5 + 0.3 reaches it, so tokens 0 and 1 only.
  auto p = support({.temperature = 1.0f, .top_p = 0.75f, .seed = 1});
  BOOST_TEST(p.size() == 2u);
  BOOST_TEST(p.count(0) + p.count(1) == 2u);
  // min_p = 0.2: keep probabilities >= 0.1, tokens 0, 1, 2.
  BOOST_TEST(support({.temperature = 1.0f, .min_p = 0.2f, .seed = 1}).size() == 3u);
  // A tiny temperature is (almost surely) greedy.
  auto cold = support({.temperature = 0.01f, .seed = 1});
  BOOST_TEST(cold.size() == 1u);
  BOOST_TEST(cold.count(0) == 1u);
}

BOOST_AUTO_TEST_CASE(seed_reproduces) {
  std::vector<float> l(1000);
  for (int i = 0; i < 1000; ++i) l[i] = std::sin(float(i));
  auto run = [&](std::uint64_t seed) {
    Sampler s({.temperature = 1.0f, .seed = seed});
    std::vector<token_id> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.sample(l));
    return out;
  };
  BOOST_TEST(run(42) == run(42));
  BOOST_TEST(run(42) != run(43));
}

BOOST_AUTO_TEST_CASE(bad_options_are_rejected) {
  BOOST_CHECK_THROW(Sampler({.temperature = -1.0f}), input_error);
  BOOST_CHECK_THROW(Sampler({.temperature = NAN}), input_error);
  BOOST_CHECK_THROW(Sampler({.top_p = 0.0f}), input_error);
  BOOST_CHECK_THROW(Sampler({.top_k = -3}), input_error);
  BOOST_CHECK_THROW(Sampler({.min_p = 2.0f}), input_error);
  Sampler s({.temperature = 1.0f});
  std::vector<float> bad{NAN, NAN};
  BOOST_CHECK_THROW(s.sample(bad), input_error);
  std::vector<float> none;
  BOOST_CHECK_THROW(s.sample(none), input_error);
}

// TopK against sorting the whole row: ties go to the lower id, NaN is never a candidate, and
// merging the TopKs of parts of a row gives the TopK of the row.
BOOST_AUTO_TEST_CASE(top_k_matches_a_full_sort) {
  std::mt19937 rng(3);
  std::vector<float> row(5000);
  for (auto& x : row) x = float(int(rng() % 200)) / 8.0f;  // many ties
  row[17] = NAN, row[4000] = NAN, row[99] = 1000.0f;
  std::vector<Candidate> sorted;
  for (std::size_t i = 0; i < row.size(); ++i)
    if (!std::isnan(row[i])) sorted.push_back({token_id(i), row[i]});
  std::sort(sorted.begin(), sorted.end(),
            [](const Candidate& a, const Candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.token < b.token); });
  for (std::size_t k : {1, 2, 50, 4998, 5000}) {
    TopK whole, a, b;
    whole.reset(k), a.reset(k), b.reset(k);
    whole.offer(row, 0);
    a.offer(std::span(row).first(1234), 0);
    b.offer(std::span(row).subspan(1234), 1234);
    a.merge(b);
    for (const TopK* t : {&whole, &a}) {
      BOOST_REQUIRE_EQUAL(t->best().size(), std::min(k, sorted.size()));
      for (std::size_t i = 0; i < t->best().size(); ++i) {
        BOOST_TEST(t->best()[i].token == sorted[i].token, "k " << k << " rank " << i);
        BOOST_TEST(t->best()[i].logit == sorted[i].logit);
      }
    }
  }
}

// Sampling from the row's best candidates (what decode_top_k returns) is the same draw as
// sampling from the whole row, for greedy and for top-k, with the same seed.
BOOST_AUTO_TEST_CASE(sampling_the_best_candidates_matches_sampling_the_row) {
  std::mt19937 rng(5);
  std::vector<float> row(1000);
  for (auto& x : row) x = float(rng() % 1000) / 100.0f;
  for (SamplingOptions o : {SamplingOptions{}, SamplingOptions{.temperature = 0.7f, .top_k = 20, .seed = 9},
                            SamplingOptions{.temperature = 1.3f, .top_k = 50, .top_p = 0.8f, .min_p = 0.05f, .seed = 2}}) {
    Sampler from_row(o), from_best(o);
    BOOST_REQUIRE(from_best.candidates_needed() >= 1);
    TopK top;
    top.reset(from_best.candidates_needed());
    top.offer(row, 0);
    for (int i = 0; i < 200; ++i) BOOST_TEST(from_row.sample(row) == from_best.sample_best(top.best()));
  }
  BOOST_TEST(Sampler({.temperature = 1.0f}).candidates_needed() == 0u);  // no top-k: the whole row
}
