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

// top_k and min_p sample exactly the tokens they keep, each as often as its probability
// renormalised over the kept ones (hand-computed below). The logits are out of order, so that the
// kept tokens are not simply the first ids. 40000 draws: each frequency lies within 5 standard
// deviations sqrt(p (1 - p) / n) of p (a chance below 1e-6 per check of failing for a correct
// sampler; the seed fixes the draws anyway).
BOOST_AUTO_TEST_CASE(top_k_and_min_p_sample_the_renormalised_distribution) {
  // Token:        0     1     2     3     4     5
  const double p[6] = {0.08, 0.30, 0.05, 0.20, 0.12, 0.25};
  std::vector<float> l(6);
  for (int i = 0; i < 6; ++i) l[i] = float(std::log(p[i]));
  constexpr int n = 40000;
  auto check = [&](SamplingOptions o, std::map<token_id, double> want, const char* what) {
    std::map<token_id, int> seen;
    Sampler s(o);
    for (int i = 0; i < n; ++i) ++seen[s.sample(l)];
    for (const auto& [token, count] : seen) BOOST_TEST(want.count(token) == 1u, what << ": token " << token << " drawn");
    for (const auto& [token, q] : want) {
      const double f = double(seen[token]) / n, bound = 5.0 * std::sqrt(q * (1.0 - q) / n);
      BOOST_TEST(std::fabs(f - q) <= bound, what << ": token " << token << " frequency " << f << ", probability " << q);
    }
  };
  // top_k = 3: tokens 1, 5, 3 (0.30 + 0.25 + 0.20 = 0.75).
  check({.temperature = 1.0f, .top_k = 3, .seed = 4}, {{1, 0.30 / 0.75}, {5, 0.25 / 0.75}, {3, 0.20 / 0.75}}, "top_k 3");
  // top_k = 1 is greedy.
  check({.temperature = 1.0f, .top_k = 1, .seed = 4}, {{1, 1.0}}, "top_k 1");
  // min_p = 0.35: keep p >= 0.35 * 0.30 = 0.105, tokens 1, 5, 3, 4 (sum 0.87); 0.08 and 0.05 go.
  check({.temperature = 1.0f, .min_p = 0.35f, .seed = 5}, {{1, 0.30 / 0.87}, {5, 0.25 / 0.87}, {3, 0.20 / 0.87}, {4, 0.12 / 0.87}},
        "min_p 0.35");
  // min_p with temperature 2: probabilities become sqrt(p) / sum; min_p compares those, so
  // min_p = 0.55 keeps sqrt(p) >= 0.55 sqrt(0.30) = 0.3012: 0.08 (0.283) and 0.05 go, 0.12 (0.346) stays.
  {
    const double z = std::sqrt(0.30) + std::sqrt(0.25) + std::sqrt(0.20) + std::sqrt(0.12);
    check({.temperature = 2.0f, .min_p = 0.55f, .seed = 6},
          {{1, std::sqrt(0.30) / z}, {5, std::sqrt(0.25) / z}, {3, std::sqrt(0.20) / z}, {4, std::sqrt(0.12) / z}}, "T 2 min_p 0.55");
  }
  // Both: top_k = 4 keeps 1, 5, 3, 4; min_p = 0.5 then keeps p >= 0.15: 1, 5, 3 (sum 0.75).
  check({.temperature = 1.0f, .top_k = 4, .min_p = 0.5f, .seed = 7}, {{1, 0.30 / 0.75}, {5, 0.25 / 0.75}, {3, 0.20 / 0.75}},
        "top_k 4 min_p 0.5");
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
