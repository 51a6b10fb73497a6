// The whole CUDA model: against the reference's golden logits and intermediates (tests/data/tiny),
// against the host backend's logits, greedy continuations identical to the reference's and the
// host's, chunked prefill and batches of sequences equal to one pass, and the host's input errors.
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "common/golden.hpp"
#include "common/greedy.hpp"
#include "common/intermediates.hpp"
#include "cuda/harness.hpp"
#include "gptoss/model/transformer_cuda.cuh"
#include "gptoss/generate/generate.hpp"
#include "gptoss/model/any_model.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;

namespace {

const test::Golden& golden() {
  static test::Golden g;
  return g;
}

template <ModelConfig C>
Transformer<C, gptoss::backend::cuda> open_cuda(const std::string& layout, std::int64_t max_batch_tokens = 512) {
  CudaOptions o;
  o.max_batch_tokens = max_batch_tokens;
  return Transformer<C, gptoss::backend::cuda>(io::Checkpoint::open(test::tiny_dir + "/" + layout), o);
}

Transformer<tiny_test, backend::host>& host_model() {
  static Transformer<tiny_test, backend::host> m(io::Checkpoint::open(test::tiny_dir + "/original"));
  return m;
}

constexpr double device_vs_host = 2e-5;  // float32 both, different summation orders

template <class F>
bool throws(F&& f) {
  try {
    f();
  } catch (const input_error&) {
    return true;
  }
  return false;
}

}  // namespace

CT_CASE(logits_match_reference_and_host) {
  for (const char* layout : {"original", "hf"}) {
    auto compiled = open_cuda<tiny_test>(layout);
    auto dynamic = open_cuda<dynamic_config>(layout);
    CT_CHECK(dynamic.config() == tiny_test, "dynamic config read from the checkpoint");
    for (const char* seq : {"seq0", "seq1", "seq2"}) {
      const auto tokens = golden().tokens(std::string(seq) + ".tokens");
      const auto expect = golden().floats(std::string(seq) + ".logits_fp32");
      const auto n = std::int64_t(tokens.size());
      auto hs = host_model().new_sequence(n);
      const auto host = host_model().prefill(hs, tokens, Logits::all);
      for (auto* model : {&compiled, static_cast<Transformer<tiny_test, gptoss::backend::cuda>*>(nullptr)}) {
        std::vector<float> got;
        if (model) {
          auto s = model->new_sequence(n);
          got = model->prefill(s, tokens, Logits::all);
          CT_CHECK(s.length() == n, "sequence length");
        } else {
          auto s = dynamic.new_sequence(n);
          got = dynamic.prefill(s, tokens, Logits::all);
        }
        const std::string what = std::string(layout) + " " + seq + (model ? " compiled" : " dynamic");
        CT_CHECK(got.size() == expect.size(), what);
        const double err = test::max_row_relative_error(got.data(), expect.data(), n, 1000);
        CT_CHECK(err < test::logits_tolerance, what + " vs reference: " + std::to_string(err));
        const double err_host = test::max_row_relative_error(got.data(), host.data(), n, 1000);
        CT_CHECK(err_host < device_vs_host, what + " vs host: " + std::to_string(err_host));
      }
    }
  }
}

// 4160 tokens: past the sliding window many times, past YaRN's original context, in 512-token
// chunks, with splits of the full layers' keys.
CT_CASE(long_sequence_matches_reference) {
  auto model = open_cuda<tiny_test>("original");
  const auto tokens = golden().tokens("long.tokens");
  const auto positions = golden().tokens("long.positions");
  const auto expect = golden().floats("long.logits_fp32");
  auto s = model.new_sequence(std::int64_t(tokens.size()));
  const auto got = model.prefill(s, tokens, Logits::all);
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const double err = test::max_row_relative_error(got.data() + std::size_t(positions[i]) * 1000, expect.data() + i * 1000, 1, 1000);
    CT_CHECK(err < test::logits_tolerance, "position " + std::to_string(positions[i]) + ": " + std::to_string(err));
  }
  // And decoding on from there, one token, against the host doing the same.
  auto hs = host_model().new_sequence(std::int64_t(tokens.size()) + 1);
  host_model().prefill(hs, tokens);
  auto s2 = model.new_sequence(std::int64_t(tokens.size()) + 1);
  model.prefill(s2, tokens);
  const auto h = host_model().decode(hs, 5);
  const auto d = model.decode(s2, 5);
  CT_CHECK(test::max_row_relative_error(d.data(), h.data(), 1, 1000) < device_vs_host, "decode at position 4160");
}

CT_CASE(greedy_decode_matches_reference_and_host) {
  const auto prompt = golden().tokens("greedy.prompt");
  const auto expect_tokens = golden().tokens("greedy.tokens_fp32");
  for (const char* layout : {"original", "hf"}) {
    auto model = open_cuda<tiny_test>(layout);
    const auto got = test::greedy_against_golden(model, golden(), test::logits_tolerance,
                                                 [&](bool ok, const std::string& what) { CT_CHECK(ok, std::string(layout) + " " + what); });
    CT_CHECK(got == expect_tokens, std::string(layout) + ": greedy tokens");

    // The argmax on the device gives the same continuation.
    auto s2 = model.new_sequence(64);
    Transformer<tiny_test, gptoss::backend::cuda>::Step first{s2, prompt};
    std::vector<token_id> dev{model.forward_greedy(std::span(&first, 1))[0]};
    while (dev.size() < expect_tokens.size()) dev.push_back(model.decode_greedy(s2, dev.back()));
    CT_CHECK(dev == expect_tokens, std::string(layout) + ": greedy tokens with the argmax on the device");

    // The generation loop, and the host's own continuation.
    GenerateOptions opt;
    opt.max_tokens = int(expect_tokens.size());
    CT_CHECK(generate(model, prompt, opt) == expect_tokens, "generate() on the device");
    CT_CHECK(generate(host_model(), prompt, opt) == expect_tokens, "generate() on the host");
  }
}

CT_CASE(chunked_prefill_decode_and_batches_match_one_pass) {
  const auto tokens = golden().tokens("seq2.tokens");  // 41 tokens: 5 sliding windows of 8
  auto full = open_cuda<tiny_test>("original");
  auto s = full.new_sequence(64);
  const auto expect = full.prefill(s, tokens, Logits::all);
  for (std::int64_t chunk : {1, 3, 8, 13}) {
    auto model = open_cuda<tiny_test>("original", chunk);
    auto seq = model.new_sequence(64);
    const auto got = model.prefill(seq, tokens, Logits::all);
    CT_CHECK(test::max_row_relative_error(got.data(), expect.data(), 41, 1000) < 1e-5, "chunk " + std::to_string(chunk));
    auto seq2 = model.new_sequence(64);
    const auto last = model.prefill(seq2, tokens);
    CT_CHECK(test::max_row_relative_error(last.data(), expect.data() + 40 * 1000, 1, 1000) < 1e-5,
             "last row, chunk " + std::to_string(chunk));
  }
  // Prompt of 20 (longer than the window), then 21 single-token decodes.
  auto seq = full.new_sequence(41);
  const auto first = full.prefill(seq, std::span(tokens).first(20), Logits::all);
  CT_CHECK(test::max_row_relative_error(first.data(), expect.data(), 20, 1000) < 1e-5, "prompt rows");
  for (std::size_t i = 20; i < tokens.size(); ++i) {
    const auto got = full.decode(seq, tokens[i]);
    CT_CHECK(test::max_row_relative_error(got.data(), expect.data() + i * 1000, 1, 1000) < 1e-5, "position " + std::to_string(i));
  }
  CT_CHECK(seq.length() == 41, "length after decoding");

  // Two sequences in one call, then one decode step for both, against each alone.
  const auto a = golden().tokens("seq1.tokens"), b = tokens;
  auto model = open_cuda<tiny_test>("hf", 16);  // chunks split the batch mid-sequence
  auto sa = model.new_sequence(64), sb = model.new_sequence(64);
  const auto alone_a = model.prefill(sa, a, Logits::all);
  const auto alone_b = model.prefill(sb, b, Logits::all);
  auto ta = model.new_sequence(64), tb = model.new_sequence(64);
  std::vector<Transformer<tiny_test, gptoss::backend::cuda>::Step> steps{{ta, a}, {tb, b}};
  const auto together = model.forward(steps, Logits::all);
  CT_CHECK(test::max_row_relative_error(together.data(), alone_a.data(), std::int64_t(a.size()), 1000) < 1e-5, "batch a");
  CT_CHECK(test::max_row_relative_error(together.data() + a.size() * 1000, alone_b.data(), std::int64_t(b.size()), 1000) < 1e-5,
           "batch b");
  token_id na = 17, nb = 4;
  std::vector<Transformer<tiny_test, gptoss::backend::cuda>::Step> next{{ta, std::span(&na, 1)}, {tb, std::span(&nb, 1)}};
  const auto both = model.forward(next, Logits::last);
  const auto only_a = model.decode(sa, na), only_b = model.decode(sb, nb);
  CT_CHECK(test::max_row_relative_error(both.data(), only_a.data(), 1, 1000) < 1e-5, "decode a in a batch");
  CT_CHECK(test::max_row_relative_error(both.data() + 1000, only_b.data(), 1, 1000) < 1e-5, "decode b in a batch");
}

CT_CASE(intermediates_match_reference) {
  auto model = open_cuda<tiny_test>("hf");
  test::TracedActivations traced;
  model.set_trace(traced.recorder());
  const auto tokens = golden().tokens("debug.tokens");
  auto s = model.new_sequence(64);
  model.prefill(s, tokens);
  test::compare_intermediates(golden(), traced, std::int64_t(tokens.size()), 2e-5,
                              [](bool ok, const std::string& what) { CT_CHECK(ok, what); });
}

CT_CASE(errors_leave_the_sequence_unchanged) {
  auto model = open_cuda<tiny_test>("original");
  auto seq = model.new_sequence(4);
  std::vector<token_id> bad{1, 2, 1000}, too_long{1, 2, 3, 4, 5}, empty, ok{1, 2};
  CT_CHECK(throws([&] { model.prefill(seq, bad); }), "token outside the vocabulary");
  CT_CHECK(throws([&] { model.prefill(seq, too_long); }), "more tokens than the capacity");
  CT_CHECK(throws([&] { model.prefill(seq, empty); }), "no tokens");
  std::vector<Transformer<tiny_test, gptoss::backend::cuda>::Step> twice{{seq, ok}, {seq, ok}};
  CT_CHECK(throws([&] { model.forward(twice); }), "the same sequence twice");
  CT_CHECK(throws([&] { model.new_sequence(0); }), "capacity 0");
  CT_CHECK(throws([&] { model.new_sequence(tiny_test.max_context() + 1); }), "capacity past the context");
  CT_CHECK(seq.length() == 0, "length unchanged");
  model.prefill(seq, ok);
  CT_CHECK(seq.length() == 2, "then it still works");
}

// A decode step recorded as a CUDA graph and replayed computes what the same step run directly
// does, bit for bit, and the reference's logits; recording runs nothing, and the replay writes the
// KV cache as the direct step does.
CT_CASE(decode_step_captured_as_a_graph) {
  auto model = open_cuda<tiny_test>("original");
  const auto tokens = golden().tokens("seq0.tokens");
  const auto expect = golden().floats("seq0.logits_fp32");
  const std::int64_t n = std::int64_t(tokens.size()), V = tiny_test.vocab_size;
  const std::span<const token_id> prefix(tokens.data(), std::size_t(n - 2));
  auto graphed = model.new_sequence(n), direct = model.new_sequence(n);
  model.prefill(graphed, prefix);
  model.prefill(direct, prefix);

  auto graph = model.capture_decode(graphed, tokens[std::size_t(n - 2)]);
  CT_CHECK(graphed.length() == n - 2, "recording runs nothing");
  std::vector<float> replayed(static_cast<std::size_t>(V));
  model.replay(graph, replayed);
  CT_CHECK(graphed.length() == n - 1, "the replay appended its token");
  const std::vector<float> plain = model.decode(direct, tokens[std::size_t(n - 2)]);
  CT_CHECK(std::memcmp(replayed.data(), plain.data(), sizeof(float) * std::size_t(V)) == 0,
           "replayed logits equal the direct step's bit for bit");
  const double err = test::max_row_relative_error(replayed.data(), expect.data() + (n - 2) * V, 1, V);
  CT_CHECK(err < test::logits_tolerance, "replayed logits vs reference: " + std::to_string(err));
  CT_CHECK(throws([&] { model.replay(graph, replayed); }), "a graph replays only at the length it was recorded for");

  // The next step reads the keys and values the replay stored.
  const auto after_graph = model.decode(graphed, tokens[std::size_t(n - 1)]);
  const auto after_direct = model.decode(direct, tokens[std::size_t(n - 1)]);
  CT_CHECK(std::memcmp(after_graph.data(), after_direct.data(), sizeof(float) * std::size_t(V)) == 0,
           "the step after the replay equals the one after the direct step");
}

CT_CASE(memory_plan_and_any_model) {
  auto model = open_cuda<tiny_test>("original");
  const auto& plan = model.memory_plan();
  CT_CHECK(plan.weights >= model.checkpoint().weight_bytes(), "every weight byte uploaded, none expanded");
  CT_CHECK(plan.weights < model.checkpoint().weight_bytes() + 256 * 200, "only alignment padding on top");
  CT_CHECK(plan.kv_cache == CudaKvCache::bytes_for(tiny_test, plan.context), "KV plan");
  // A sliding layer holds `sliding_window` slots whatever the capacity (as the host's KvCache).
  CT_CHECK(CudaKvCache::bytes_for(tiny_test, 1000) == std::size_t((2 * 1000 + 2 * 8) * 2 * 64 * sizeof(float)), "KV bytes");

  // The library prints nothing: the plan and the upload reach the caller's callbacks.
  const std::uint64_t any_weight_bytes = model.checkpoint().weight_bytes();
  int plans = 0;
  std::uint64_t uploaded = 0, upload_total = 0;
  CudaOptions options;
  options.on_plan = [&](const CudaMemoryPlan& p) { ++plans, CT_CHECK(p.total() == plan.total(), "the same plan"); };
  options.on_upload = [&](std::uint64_t done, std::uint64_t total) {
    CT_CHECK(done > uploaded && done <= total, "upload progress only grows");
    uploaded = done, upload_total = total;
  };
  ModelAdapter<Transformer<tiny_test, gptoss::backend::cuda>, true> any(io::Checkpoint::open(test::tiny_dir + "/original"),
                                                                        options);
  CT_CHECK(plans == 1, "on_plan called once, before the upload");
  CT_CHECK(uploaded == upload_total && upload_total == any_weight_bytes, "the upload reported to its end");
  CT_CHECK(std::string(any.backend()) == "cuda", "backend name");
  const auto tokens = golden().tokens("seq0.tokens");
  auto s = any.new_sequence(64);
  const auto got = any.prefill(s, tokens, Logits::all);
  const auto expect = golden().floats("seq0.logits_fp32");
  CT_CHECK(test::max_row_relative_error(got.data(), expect.data(), std::int64_t(tokens.size()), 1000) < test::logits_tolerance,
           "through AnyModel");
}

CT_MAIN()
