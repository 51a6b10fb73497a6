// The engine on the bundled tiny checkpoint (1000 tokens, sliding window 8): requests run alone,
// together, chunked and from the prefix cache give bitwise the same tokens and log-probabilities;
// a request alone gives what the single-sequence generate() loop gives; queue limit, cancellation
// and bad requests.
#define BOOST_TEST_MODULE engine
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <random>
#include <thread>

#include "common/golden.hpp"
#include "common/temp_dir.hpp"
#include "gptoss/engine/reply.hpp"
#include "gptoss/engine/engine.hpp"
#include "gptoss/model/any_model.hpp"
#include "gptoss/tools/presets.hpp"
#include "gptoss/tools/synth.hpp"

using namespace gptoss;
using namespace gptoss::engine;
using namespace gptoss::tools;

namespace {

std::unique_ptr<AnyModel> tiny(std::int64_t max_batch_tokens = 512) {
  return open_model<tiny_test>(io::Checkpoint::open(test::tiny_dir + "/original"),
                               {.threads = 2, .max_batch_tokens = max_batch_tokens});
}

std::vector<token_id> random_tokens(std::mt19937& rng, std::size_t n) {
  std::vector<token_id> t(n);
  for (auto& x : t) x = token_id(rng() % 1000);
  return t;
}

struct Spec {
  std::vector<token_id> prompt;
  int max_tokens;
  SamplingOptions sampling;
  int top_logprobs;
};

RequestOptions make(const Spec& s) {
  RequestOptions r;
  r.prompt = s.prompt;
  r.max_tokens = s.max_tokens;
  r.sampling = s.sampling;
  r.top_logprobs = s.top_logprobs;
  return r;
}

std::vector<Spec> specs() {
  std::mt19937 rng(7);
  std::vector<Spec> out;
  const std::size_t lengths[] = {1, 5, 9, 23, 40, 3};
  for (std::size_t i = 0; i < std::size(lengths); ++i) {
    Spec s{random_tokens(rng, lengths[i]), 12 + int(i), {}, 3};
    if (i % 2) s.sampling = {.temperature = 0.9f, .top_p = 0.95f, .seed = 100 + i};
    out.push_back(s);
  }
  return out;
}

// Runs the requests on an engine driven by step() until all are done.
std::vector<Result> run_all(Engine& e, const std::vector<Spec>& ss) {
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (const auto& s : ss) hs.push_back(e.submit(make(s)));
  while (e.step()) {
  }
  std::vector<Result> out;
  for (auto& h : hs) {
    BOOST_REQUIRE(h->done());
    out.push_back(h->wait());
  }
  return out;
}

void check_same(const Result& a, const Result& b) {
  BOOST_CHECK(a.tokens == b.tokens);
  BOOST_CHECK(a.finish == b.finish);
  BOOST_REQUIRE_EQUAL(a.events.size(), b.events.size());
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    // Bitwise: the same bits, not just close.
    BOOST_CHECK_MESSAGE(std::memcmp(&a.events[i].logprob, &b.events[i].logprob, sizeof(float)) == 0,
                        "token " << i << " logprob " << std::hexfloat << a.events[i].logprob << " != " << b.events[i].logprob);
    BOOST_REQUIRE_EQUAL(a.events[i].top.size(), b.events[i].top.size());
    for (std::size_t j = 0; j < a.events[i].top.size(); ++j) {
      BOOST_CHECK_EQUAL(a.events[i].top[j].token, b.events[i].top[j].token);
      BOOST_CHECK_MESSAGE(std::memcmp(&a.events[i].top[j].logprob, &b.events[i].top[j].logprob, sizeof(float)) == 0,
                          "token " << i << " top " << j << " logprob " << std::hexfloat << a.events[i].top[j].logprob
                                   << " != " << b.events[i].top[j].logprob);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(alone_matches_the_generate_loop) {
  auto model = tiny();
  for (const Spec& s : specs()) {
    Engine e(*model, {.parallel = 1, .ctx_size = 128, .prefix_cache = false});
    auto r = run_all(e, {s});
    GenerateOptions g;
    g.max_tokens = s.max_tokens;
    g.sampling = s.sampling;
    auto expected = generate(*model, std::span<const token_id>(s.prompt), g);
    BOOST_CHECK(r[0].tokens == expected);
    BOOST_CHECK(r[0].finish == Finish::length);
    BOOST_CHECK_EQUAL(r[0].prompt_tokens, std::int64_t(s.prompt.size()));
    BOOST_CHECK_EQUAL(r[0].cached_tokens, 0);
  }
}

BOOST_AUTO_TEST_CASE(logprobs_are_the_log_softmax_of_the_logits) {
  auto model = tiny();
  const Spec s = specs()[3];
  Engine e(*model, {.parallel = 1, .ctx_size = 128});
  auto r = run_all(e, {s})[0];
  // The first generated token's log-probabilities, computed here from the prompt's logits.
  auto seq = model->new_sequence(128);
  std::vector<float> logits = model->prefill(seq, s.prompt);
  double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
  for (float x : logits) sum += std::exp(double(x) - mx);
  const double lse = mx + std::log(sum);
  BOOST_CHECK_CLOSE(r.events[0].logprob, double(logits[r.tokens[0]]) - lse, 1e-4);
  BOOST_REQUIRE_EQUAL(r.events[0].top.size(), 3u);
  const token_id best = token_id(std::max_element(logits.begin(), logits.end()) - logits.begin());
  BOOST_CHECK_EQUAL(r.events[0].top[0].token, best);
  BOOST_CHECK(r.events[0].top[0].logprob >= r.events[0].top[1].logprob);
  BOOST_CHECK(r.events[0].top[1].logprob >= r.events[0].top[2].logprob);
}

BOOST_AUTO_TEST_CASE(batched_and_chunked_equal_alone_bitwise) {
  auto model = tiny();
  const auto ss = specs();
  std::vector<Result> alone;
  for (const Spec& s : ss) {
    Engine e(*model, {.parallel = 1, .ctx_size = 128, .prefix_cache = false});
    alone.push_back(run_all(e, {s})[0]);
  }
  for (std::int64_t budget : {4, 7, 64}) {
    BOOST_TEST_CONTEXT("step_tokens " << budget) {
      Engine e(*model, {.parallel = 4, .ctx_size = 128, .step_tokens = budget});
      auto together = run_all(e, ss);
      for (std::size_t i = 0; i < ss.size(); ++i) BOOST_TEST_CONTEXT("request " << i) check_same(together[i], alone[i]);
    }
  }
}

BOOST_AUTO_TEST_CASE(prefix_cache_continues_bitwise_like_a_fresh_run) {
  auto model = tiny();
  std::mt19937 rng(11);
  const auto first = random_tokens(rng, 20);  // longer than the window: the rings wrap
  auto second = first;
  const auto more = random_tokens(rng, 9);
  second.insert(second.end(), more.begin(), more.end());
  Spec a{first, 10, {}, 2}, b{second, 10, {.temperature = 1.0f, .seed = 5}, 2};

  Engine cached(*model, {.parallel = 1, .ctx_size = 128});
  auto ra = run_all(cached, {a})[0];
  auto rb = run_all(cached, {b})[0];
  // The second prompt starts with the first: all of it but its last token comes from the cache.
  BOOST_CHECK_EQUAL(rb.cached_tokens, std::int64_t(first.size()) - 1);
  // The same prompt again: all but its last token.
  auto rb2 = run_all(cached, {b})[0];
  BOOST_CHECK_EQUAL(rb2.cached_tokens, std::int64_t(second.size()) - 1);

  Engine fresh(*model, {.parallel = 1, .ctx_size = 128, .prefix_cache = false});
  auto fb = run_all(fresh, {b})[0];
  BOOST_CHECK_EQUAL(fb.cached_tokens, 0);
  check_same(rb, fb);
  check_same(rb2, fb);
}

BOOST_AUTO_TEST_CASE(kv_cache_truncate_restores_the_rings) {
  auto model = tiny();
  std::mt19937 rng(3);
  const auto p = random_tokens(rng, 30);
  const std::span<const token_id> ps(p);
  auto fresh = model->new_sequence(64);
  const auto expected = model->prefill(fresh, ps, Logits::all);

  auto seq = model->new_sequence(64);
  model->prefill(seq, ps.first(17));
  seq.save_prefix();
  BOOST_CHECK_EQUAL(seq.saved_length(), 17);
  model->prefill(seq, random_tokens(rng, 11));  // positions 17..27 overwrite the rings
  BOOST_CHECK_EQUAL(seq.truncate(20), 17);       // back to what it saved
  const auto rest = model->prefill(seq, ps.subspan(17), Logits::all);
  const std::size_t V = 1000;
  BOOST_REQUIRE_EQUAL(rest.size(), (p.size() - 17) * V);
  BOOST_CHECK_EQUAL(std::memcmp(rest.data(), expected.data() + 17 * V, rest.size() * sizeof(float)), 0);

  // The same calls without the detour (17 tokens, then 13): the restored rings make the detour
  // invisible, whatever the kernels do with different call shapes.
  auto straight = model->new_sequence(64);
  model->prefill(straight, ps.first(17));
  const auto straight_rest = model->prefill(straight, ps.subspan(17), Logits::all);
  BOOST_CHECK_EQUAL(std::memcmp(rest.data(), straight_rest.data(), rest.size() * sizeof(float)), 0);

  // Without a saved copy, a wrapped sequence can only start again.
  auto other = model->new_sequence(64);
  model->prefill(other, ps.first(12));
  BOOST_CHECK_EQUAL(other.truncate(5), 0);
  // Before the rings wrap, any shorter length is exact.
  model->prefill(other, ps.first(7));
  BOOST_CHECK_EQUAL(other.truncate(4), 4);
  const auto tail = model->prefill(other, ps.subspan(4, 3), Logits::all);
  BOOST_CHECK_EQUAL(std::memcmp(tail.data(), expected.data() + 4 * V, 3 * V * sizeof(float)), 0);
}

BOOST_AUTO_TEST_CASE(background_thread_equals_stepping) {
  auto model = tiny();
  const auto ss = specs();
  Engine stepped(*model, {.parallel = 3, .ctx_size = 128, .step_tokens = 16});
  auto expected = run_all(stepped, ss);
  Engine e(*model, {.parallel = 3, .ctx_size = 128, .step_tokens = 16});
  e.start();
  std::vector<std::shared_ptr<RequestHandle>> hs;
  std::vector<std::vector<token_id>> streamed(ss.size());
  for (std::size_t i = 0; i < ss.size(); ++i)
    hs.push_back(e.submit(make(ss[i]), {.on_token = [&streamed, i](const TokenEvent& ev) {
                                          streamed[i].push_back(ev.token);
                                          return true;
                                        }}));
  for (std::size_t i = 0; i < ss.size(); ++i) {
    const Result& r = hs[i]->wait();
    BOOST_CHECK(r.tokens == expected[i].tokens);
    BOOST_CHECK(streamed[i] == r.tokens);
  }
  e.stop();
}

BOOST_AUTO_TEST_CASE(stop_tokens_cancellation_and_limits) {
  auto model = tiny();
  const Spec s = specs()[4];
  Engine e(*model, {.parallel = 2, .ctx_size = 64, .max_queue = 2});
  auto full = run_all(e, {s})[0];
  BOOST_REQUIRE(full.tokens.size() >= 5);

  // The first occurrence of the 4th token stops the reply there (the stop token included).
  RequestOptions r = make(s);
  r.stop_tokens = {full.tokens[3]};
  auto h = e.submit(std::move(r));
  while (e.step()) {
  }
  const auto first = std::size_t(std::find(full.tokens.begin(), full.tokens.end(), full.tokens[3]) - full.tokens.begin());
  BOOST_CHECK(h->wait().finish == Finish::stop);
  BOOST_CHECK(std::vector<token_id>(full.tokens.begin(), full.tokens.begin() + std::ptrdiff_t(first) + 1) == h->wait().tokens);

  // A callback returning false cancels after that token; cancel() cancels a queued request.
  int seen = 0;
  auto c = e.submit(make(s), {.on_token = [&](const TokenEvent&) { return ++seen < 3; }});
  auto q = e.submit(make(s));
  q->cancel();
  BOOST_CHECK_THROW(e.submit(make(s)), busy_error);  // two queued: the queue is full
  while (e.step()) {
  }
  BOOST_CHECK(c->wait().finish == Finish::cancelled);
  BOOST_CHECK_EQUAL(c->wait().tokens.size(), 3u);
  BOOST_CHECK(q->wait().finish == Finish::cancelled);
  BOOST_CHECK(q->wait().tokens.empty());

  // Bad requests are refused before they are queued.
  BOOST_CHECK_THROW(e.submit(make({{}, 4, {}, -1})), input_error);
  BOOST_CHECK_THROW(e.submit(make({{1, 2, 3}, 62, {}, -1})), input_error);  // 3 + 62 > 64
  BOOST_CHECK_THROW(e.submit(make({{1, 1000}, 4, {}, -1})), input_error);
  BOOST_CHECK_THROW(e.submit(make({{1, 2}, -1, {}, -1})), input_error);
  auto zero = e.submit(make({{1, 2}, 0, {}, -1}));
  while (e.step()) {
  }
  BOOST_CHECK(zero->wait().tokens.empty());
  BOOST_CHECK(zero->wait().finish == Finish::length);
}

// A chat through the engine (gptoss chat's path): each reply is the one generate_reply on the model
// itself gives (greedy), and the second turn reads only what the first did not. The slot holds
// the first prompt and reply; the sliding layers' rings (8 slots) have wrapped, so the engine
// comes back to where it saved them, the first prompt but its last token.
BOOST_AUTO_TEST_CASE(chat_turns_through_the_engine_read_only_their_new_tokens) {
  test::TempDir dir;
  ModelConfig cfg = tiny_harmony_test;
  cfg.num_hidden_layers = 2;
  synthesize_checkpoint(cfg, dir.path() / "model");
  auto model = open_model<>(io::Checkpoint::open(dir.path() / "model"));
  const auto tok = text::Tokenizer::from_file(std::string(GPTOSS_TEST_DATA) + "/tokenizer/o200k_base.tiktoken");
  harmony::Conversation conv;
  conv.system().user("What is 2 + 2?");
  const GenerateOptions opt{.max_tokens = 12, .sampling = {.temperature = 0.0f}};

  Engine eng(*model, {.parallel = 1, .ctx_size = 512});
  Result first, second;
  std::string streamed;
  const Reply a = engine::generate_reply(eng, tok, conv, opt, [&](const ReplyDelta& d) { streamed += d.text; }, &first);
  std::string expect_streamed;
  const Reply want_a = generate_reply(*model, tok, conv, opt, [&](const ReplyDelta& d) { expect_streamed += d.text; });
  BOOST_CHECK(a.tokens == want_a.tokens);
  BOOST_CHECK_EQUAL(streamed, expect_streamed);
  BOOST_CHECK_EQUAL(a.parse_failed, want_a.parse_failed);
  BOOST_CHECK_EQUAL(first.cached_tokens, 0);
  const auto prompt1 = harmony::render_for_completion(tok, conv);
  BOOST_REQUIRE_GT(prompt1.size() + a.tokens.size() - 1, 8u);  // the rings have wrapped

  conv.assistant("4").user("And 3 + 3?");
  const auto prompt2 = harmony::render_for_completion(tok, conv);
  BOOST_REQUIRE(std::equal(prompt1.begin(), prompt1.end(), prompt2.begin()));  // the first prompt starts the second
  const Reply b = engine::generate_reply(eng, tok, conv, opt, {}, &second);
  BOOST_CHECK(b.tokens == generate_reply(*model, tok, conv, opt).tokens);
  BOOST_CHECK_EQUAL(second.prompt_tokens, std::int64_t(prompt2.size()));
  BOOST_CHECK_EQUAL(second.cached_tokens, std::int64_t(prompt1.size()) - 1);

  // A conversation longer than the engine's context is refused before anything runs.
  Engine small(*model, {.parallel = 1, .ctx_size = 16});
  BOOST_CHECK_THROW(engine::generate_reply(small, tok, conv, opt), input_error);
}
