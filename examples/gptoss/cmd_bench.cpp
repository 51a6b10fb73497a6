// gptoss bench: prefill and decode speed of a checkpoint, set against the memory bandwidth measured
// in the same run (decoding one token must read every active weight once, so bandwidth is its
// limit): the host's streaming reads, or the GPU's device-to-device copy rate.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "gptoss/generate/sampler.hpp"
#include "gptoss/host/kernels.hpp"
#include "model_loader.hpp"

namespace gptoss::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Bytes one decode step reads at `context` tokens of context: every weight of the attention
// blocks, the router, the k chosen experts (MXFP4 blocks and scales, and their biases), the norms,
// one embedding row and the whole unembedding, plus the keys and values each layer attends to.
double decode_bytes_per_token(const ModelConfig& c, std::int64_t context) {
  const double H = c.hidden_size, I = c.intermediate_size, E = c.num_experts, V = c.vocab_size;
  const double Q = c.q_width(), QKV = c.qkv_width(), KV = c.kv_width(), bf = 2.0;
  const double mxfp4_per_value = 0.5 + 1.0 / mxfp4::block_elems;  // packed nibble + shared scale byte
  const double attention = bf * (QKV * H + QKV + Q * H + H + c.num_attention_heads + H);
  const double expert = mxfp4_per_value * (2 * I * H + H * I) + bf * (2 * I + H);
  const double moe = bf * (H + E * H + E) + c.experts_per_token * expert;
  double kv = 0.0;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const double keys = c.is_sliding(l) ? std::min<std::int64_t>(context, c.sliding_window) : context;
    kv += 2.0 * keys * KV * sizeof(float);
  }
  return c.num_hidden_layers * (attention + moe) + bf * (H + H + V * H) + kv;
}

// Streaming read bandwidth in GB/s: `threads` threads each sum their share of a buffer far larger
// than the caches; the best of a few passes.
double measure_read_bandwidth(int threads, std::size_t bytes) {
  std::vector<std::uint64_t> buf(bytes / sizeof(std::uint64_t));
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = i;  // commit the pages before timing
  std::atomic<std::uint64_t> sink{0};
  double best = 0.0;
  for (int pass = 0; pass < 4; ++pass) {
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int w = 0; w < threads; ++w)
      pool.emplace_back([&, w] {
        const std::size_t n = buf.size(), b = n * w / threads, e = n * (w + 1) / threads;
        std::uint64_t acc[8] = {};
        std::size_t i = b;
        for (; i + 8 <= e; i += 8)
          for (int k = 0; k < 8; ++k) acc[k] += buf[i + k];
        for (; i < e; ++i) acc[0] += buf[i];
        std::uint64_t s = 0;
        for (auto a : acc) s += a;
        sink += s;
      });
    for (auto& t : pool) t.join();
    best = std::max(best, double(bytes) / seconds_since(t0) / 1e9);
  }
  if (sink.load() == 1) fmt::print(" ");  // keeps the sums alive
  return best;
}

int run_bench(const Args& args) {
  const int prompt_len = args.number<int>("prompt", 512);
  const int gen = args.number<int>("gen", 32);
  const int repeat = args.number<int>("repeat", 3);
  const std::int64_t context = args.number<std::int64_t>("context", 0);
  if (prompt_len < 1 || gen < 1 || repeat < 1) throw usage_error("--prompt, --gen and --repeat must be at least 1");
  if (context < 0) throw usage_error("--context must not be negative");
  const bool json = args.flag("json");
  auto model = load_model(args);
  const ModelConfig& c = model->config();
  if (context + prompt_len + gen > c.max_context())
    throw usage_error("--context + --prompt + --gen exceed the model's context");

  const auto& cpu = host_detail::cpu_features();
  const char* isa = host_detail::isa_name(host_detail::kernels().isa);
  const int threads = model->threads();
  if (!json) fmt::print("backend: {}\n", describe_backend(*model));

  std::mt19937 rng(7);
  std::vector<token_id> prompt(static_cast<std::size_t>(prompt_len));
  for (auto& t : prompt) t = token_id(rng() % std::uint32_t(c.vocab_size));
  Candidate best[1];  // greedy decoding, as `gptoss generate` does it: the best token only

  // Warm-up: maps the weights in and grows every buffer.
  {
    auto seq = model->new_sequence(prompt_len + gen);
    model->prefill(seq, std::span<const token_id>(prompt.data(), std::min<std::size_t>(prompt.size(), 8)));
    for (int i = 0; i < 2; ++i) model->decode_top_k(seq, prompt[std::size_t(i)], best);
  }

  std::vector<double> prefill_rate, decode_rate;
  for (int r = 0; r < repeat; ++r) {
    auto seq = model->new_sequence(context + prompt_len + gen);
    seq.skip(context);
    auto t0 = Clock::now();
    auto last = model->prefill(seq, prompt);
    prefill_rate.push_back(prompt_len / seconds_since(t0));
    token_id next = argmax(last);  // sampler.hpp's
    t0 = Clock::now();
    for (int i = 0; i < gen; ++i) {
      model->decode_top_k(seq, next, best);
      next = best[0].token;
    }
    decode_rate.push_back(gen / seconds_since(t0));
    if (!json) fmt::print("  repeat {}: prefill {:.2f} tok/s, decode {:.2f} tok/s\n", r + 1, prefill_rate.back(), decode_rate.back());
  }

  // Decode's ceiling: the host's streaming reads, or on a GPU its device-to-device copy rate.
  const bool on_gpu = std::string_view(model->backend()) == "cuda";
  const double bandwidth = on_gpu ? cuda_copy_bandwidth_GBps() : measure_read_bandwidth(threads, std::size_t(1) << 30);
  const std::string bandwidth_source = on_gpu ? "device copy, bytes read + written" : fmt::format("host streaming read, {} threads", threads);
  const double prefill = median(prefill_rate), decode = median(decode_rate);
  const std::int64_t decode_context = context + prompt_len + gen / 2;
  const double bytes = decode_bytes_per_token(c, decode_context);
  const double fraction = decode * bytes / (bandwidth * 1e9);
  if (json) {
    nlohmann::ordered_json out{{"prefill_tokens_per_s", prefill},
                               {"decode_tokens_per_s", decode},
                               {"decode_bytes_per_token", bytes},
                               {"measured_read_GBps", bandwidth},
                               {"decode_bandwidth_fraction", fraction},
                               {"bandwidth_measured_as", bandwidth_source},
                               {"prompt", prompt_len},
                               {"context", context},
                               {"gen", gen},
                               {"repeat", repeat},
                               {"backend", model->backend()},
                               {"threads", threads},
                               {"kernels", isa},
                               {"cpu_features", cpu.describe()}};
    fmt::print("{}\n", out.dump());
  } else {
    fmt::print("prefill (pp{}):  {:.2f} tokens/s (median of {})\n", prompt_len, prefill, repeat);
    fmt::print("decode (tg{}):   {:.2f} tokens/s (median of {})\n", gen, decode, repeat);
    fmt::print("bytes per decoded token: {:.3f} GB (weights and KV at {} tokens of context)\n", bytes / 1e9,
               decode_context);
    fmt::print("measured bandwidth: {:.1f} GB/s ({})\n", bandwidth, bandwidth_source);
    fmt::print("decode reads {:.1f} GB/s: {:.0f}% of it\n", decode * bytes / 1e9, 100.0 * fraction);
  }
  return 0;
}

const Register reg{{"bench", "prefill and decode speed against the memory bandwidth",
                    "usage: gptoss bench --model DIR [--prompt 512] [--gen 32] [--repeat 3] [--context 0]\n"
                    "                    [--threads N] [--json]\n\n"
                    "Prefills --prompt random tokens, then decodes --gen tokens greedily, --repeat times;\n"
                    "prints the median tokens/s of each, the bytes a decode step reads, the memory bandwidth\n"
                    "measured in the same run (the streaming reads of --threads threads, or with --device\n"
                    "cuda the GPU's device-to-device copy rate) and decode's share of it.\n"
                    "--context N starts each sequence N positions in, with blank (zero) keys and values in\n"
                    "the cache instead of a prefill, to measure decoding at a long context.\n\n" +
                        model_options_usage,
                    {"json"},
                    with_model_options({"prompt", "gen", "repeat", "context"}),
                    run_bench}};

}  // namespace
}  // namespace gptoss::cli
