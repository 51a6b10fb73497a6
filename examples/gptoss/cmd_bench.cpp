// gptoss bench: prefill and decode speed of a checkpoint, set against the memory bandwidth measured
// in the same run (decoding one token must read every active weight once, so bandwidth is its
// limit): the host's streaming reads, or the GPU's device-to-device copy rate.
#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "gptoss/generate/sampler.hpp"
#include "gptoss/host/kernels.hpp"
#include "model_loader.hpp"
#include "synthetic_model.hpp"
#include "gptoss/tools/presets.hpp"

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

// Streaming read bandwidth in GB/s: `threads` threads each sum their share of a buffer; the best of
// several passes (at least 8, and at least 0.4 s of them). Every other pass also asks for each line
// 4 KB ahead, into L2: on some cores a plain loop's demand misses leave the stream short of what the
// memory gives (one core of a Xeon reporting family 6 model 167: 12.6-12.9 GB/s plain, 16.2-17.0
// with the best of both), and the decode kernels prefetch so. The buffer is as large as one decode step's
// traffic (within 64 KiB and 1 GiB): a model small enough to decode from the caches is measured
// against the caches, so that the measurement bounds the decode it is divided into.
template <bool Prefetch>
std::uint64_t sum_words(const std::uint64_t* p, std::size_t n) {
  constexpr std::size_t ahead = 4096 / sizeof(std::uint64_t);
  std::uint64_t acc[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if constexpr (Prefetch)
      if (i + ahead < n) __builtin_prefetch(p + i + ahead, 0, 2);  // 2: into L2
    for (int k = 0; k < 8; ++k) acc[k] += p[i + k];
  }
  for (; i < n; ++i) acc[0] += p[i];
  std::uint64_t s = 0;
  for (auto a : acc) s += a;
  return s;
}
double measure_read_bandwidth(int threads, std::size_t bytes) {
  std::vector<std::uint64_t> buf(bytes / sizeof(std::uint64_t));
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = i;  // commit the pages before timing
  std::atomic<std::uint64_t> sink{0};
  double best = 0.0;
  const auto start = Clock::now();
  for (int pass = 0; pass < 8 || (seconds_since(start) < 0.4 && pass < 100000); ++pass) {
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int w = 0; w < threads; ++w)
      pool.emplace_back([&, w] {
        const std::size_t n = buf.size(), b = n * w / threads, e = n * (w + 1) / threads;
        sink += pass % 2 ? sum_words<true>(buf.data() + b, e - b) : sum_words<false>(buf.data() + b, e - b);
      });
    for (auto& t : pool) t.join();
    best = std::max(best, double(buf.size() * sizeof(std::uint64_t)) / seconds_since(t0) / 1e9);
  }
  if (sink.load() == 1) fmt::print(" ");  // keeps the sums alive
  return best;
}

struct Stats {
  double mean = 0, sd = 0, median = 0, min = 0, max = 0;
};
Stats stats(const std::vector<double>& v) {
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0.0;
  s.median = median(v);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

// One measured configuration: a prefill of `prompt` tokens and a decode of `gen`, `depth` blank
// positions in, for `parallel` sequences at once (0: one sequence, decoded through decode_top_k;
// 1 or more: that many, each step one forward call over all of them, as the engine runs them).
struct Result {
  int prompt, gen;
  std::int64_t depth;
  int parallel;
  std::vector<double> prefill, decode;  // tokens/s of each repeat
  double bytes = 0;                     // bytes one decode step reads, at the decode's middle
};

// One round of a batched test: r.parallel sequences prefilled in one forward call, then decoded
// greedily for r.gen steps, each step one forward call holding the next token of every sequence
// (the engine's step). Records the aggregate tokens/s of all sequences together.
void run_batched(AnyModel& model, Result& r, const std::vector<std::vector<token_id>>& prompts,
                 std::vector<float>& logits) {
  const std::size_t n = prompts.size(), V = std::size_t(model.config().vocab_size);
  std::vector<AnySequence> seqs;
  for (std::size_t i = 0; i < n; ++i) {
    seqs.push_back(model.new_sequence(r.depth + r.prompt + r.gen));
    seqs.back().skip(r.depth);
  }
  std::vector<AnyModel::Step> steps;
  for (std::size_t i = 0; i < n; ++i) steps.push_back({seqs[i], std::span<const token_id>(prompts[i])});
  logits.resize(n * V);
  auto t0 = Clock::now();
  model.forward(steps, Logits::last, logits);
  r.prefill.push_back(double(n) * r.prompt / seconds_since(t0));
  std::vector<token_id> next(n);
  for (std::size_t i = 0; i < n; ++i) {
    next[i] = argmax(std::span<const float>(logits).subspan(i * V, V));
    steps[i].tokens = std::span<const token_id>(&next[i], 1);
  }
  t0 = Clock::now();
  for (int g = 0; g < r.gen; ++g) {
    model.forward(steps, Logits::last, logits);
    for (std::size_t i = 0; i < n; ++i) next[i] = argmax(std::span<const float>(logits).subspan(i * V, V));
  }
  r.decode.push_back(double(n) * r.gen / seconds_since(t0));
}

std::vector<std::int64_t> list_option(const Args& args, const std::string& name, std::int64_t fallback, std::int64_t lo,
                                      const std::string& what) {
  if (!args.has(name)) return {fallback};
  auto values = args.int_list(name);
  for (auto v : values)
    if (v < lo) throw usage_error(fmt::format("{}: {} must be at least {}, not {}", label(name), what, lo, v));
  return values;
}

int run_bench(const Args& args) {
  const auto prompts = list_option(args, "prompt", 512, 1, "prompt lengths");
  const auto gens = list_option(args, "gen", 32, 1, "generated token counts");
  const auto depths = list_option(args, "depth", 0, 0, "depths");
  const bool batched = args.has("parallel");
  const auto parallels = list_option(args, "parallel", 1, 1, "sequence counts");
  for (auto n : parallels)
    if (n > 256) throw usage_error(fmt::format("--parallel: at most 256 sequences, not {}", n));
  const int repeat = args.number_in<int>("repeat", 3, 1, 1000);
  const bool json = args.flag("json");
  if (json && args.has("output")) throw usage_error("--json and -o/--output exclude each other");
  const std::string output = args.str("output", json ? "json-summary" : "md");
  if (!json && output != "md" && output != "csv" && output != "json" && output != "jsonl")
    throw usage_error("-o/--output must be md, csv, json or jsonl, not '" + output + "'");
  if (json && (prompts.size() > 1 || gens.size() > 1 || depths.size() > 1))
    throw usage_error("--json reports one configuration: give -o json for lists of -p, -n or -d");
  if (json && batched) throw usage_error("--json reports one sequence: give -o json with --parallel");
  // --synthetic NAME: random weights of a named shape, written into memory only (no disk needed
  // for the 65 GB of gpt-oss-120b), then benchmarked like a checkpoint on disk.
  std::unique_ptr<InMemoryCheckpoint> synthetic;
  std::function<io::Checkpoint()> make_synthetic;
  if (args.has("synthetic")) {
    if (args.has("model")) throw usage_error("--synthetic and -m/--model exclude each other");
    const std::string name = args.str("synthetic");
    const auto* preset = std::find_if(std::begin(tools::named_configs), std::end(tools::named_configs),
                                      [&](const tools::NamedConfig& n) { return name == n.name; });
    if (preset == std::end(tools::named_configs)) {
      std::string known;
      for (const auto& n : tools::named_configs) known += std::string(known.empty() ? "" : ", ") + n.name;
      throw usage_error("--synthetic: unknown config '" + name + "' (known: " + known + ")");
    }
    make_synthetic = [&, preset] {
      tools::SynthOptions opt;
      opt.seed = 1;
      int shown = -1;
      if (!args.flag("quiet"))
        opt.progress = [&, preset](std::uint64_t done, std::uint64_t total) {
          const int tenth = int(10 * done / std::max<std::uint64_t>(total, 1));
          if (tenth != shown)
            fmt::print(stderr, "writing random {} weights ({:.2f} GiB) into memory: {}%\n", preset->name,
                       double(total) / (1u << 30), 10 * tenth);
          shown = tenth;
        };
      synthetic = std::make_unique<InMemoryCheckpoint>(preset->config, opt);
      return synthetic->open();
    };
  } else if (!args.has("model")) {
    throw usage_error("bench needs -m/--model DIR or --synthetic NAME");
  }
  auto model = load_model(args, make_synthetic);
  const ModelConfig& c = model->config();
  for (auto d : depths)
    for (auto p : prompts)
      for (auto g : gens)
        if (d + p + g > c.max_context())
          throw usage_error(fmt::format("depth {} + prompt {} + gen {} exceed the model's context of {} tokens", d, p, g,
                                        c.max_context()));

  const auto& cpu = host::cpu_features();
  const std::string precision = name(model->precision());
  const std::string isa = kernels_name(model->precision());
  const int threads = model->threads();
  const bool verbose = args.flag("verbose");
  Candidate best[1];  // greedy decoding, as `gptoss generate` does it: the best token only

  // Every test first, warmed up once: maps the weights in and grows every buffer. Always three
  // forward passes (a prefill of up to 8 tokens, two decode steps): tools/gpu-check.sh's profiles
  // skip them.
  std::vector<Result> results;
  std::vector<std::vector<std::vector<token_id>>> prompts_of;  // the random prompts of each test
  std::vector<float> logits;                                   // of a batched step: [parallel, vocab]
  std::mt19937 rng(7);
  for (auto depth : depths)
    for (auto prompt_len : prompts)
      for (auto gen : gens)
        for (auto parallel : parallels) {
          std::vector<std::vector<token_id>> prompts_here(static_cast<std::size_t>(parallel));
          for (auto& prompt : prompts_here) {
            prompt.resize(static_cast<std::size_t>(prompt_len));
            for (auto& t : prompt) t = token_id(rng() % std::uint32_t(c.vocab_size));
          }
          const auto& prompt = prompts_here.front();
          auto seq = model->new_sequence(std::min<std::int64_t>(prompt_len + gen + 2, c.max_context()));
          model->prefill(seq, std::span<const token_id>(prompt.data(), std::min<std::size_t>(prompt.size(), 8)));
          for (std::size_t i = 0; i < 2; ++i) model->decode_top_k(seq, prompt[i % prompt.size()], best);
          results.push_back(Result{int(prompt_len), int(gen), depth, batched ? int(parallel) : 0, {}, {},
                                   decode_bytes_per_token(c, depth + prompt_len + gen / 2)});
          prompts_of.push_back(std::move(prompts_here));
        }
  // Rounds, not repeats back to back: round 1 runs every test once, then round 2, ... A slow spell
  // (another process on the core) then spreads over all tests as spread, instead of shifting the
  // median of whichever test it fell on.
  for (int round = 0; round < repeat; ++round)
    for (std::size_t k = 0; k < results.size(); ++k) {
      Result& r = results[k];
      if (r.parallel > 0) {
        run_batched(*model, r, prompts_of[k], logits);
        if (verbose)
          fmt::print(stderr, "round {}: pp{} tg{} d{} x{}: prefill {:.2f} tok/s, decode {:.2f} tok/s\n", round + 1,
                     r.prompt, r.gen, r.depth, r.parallel, r.prefill.back(), r.decode.back());
        continue;
      }
      const auto& prompt = prompts_of[k].front();
      auto seq = model->new_sequence(r.depth + r.prompt + r.gen);
      seq.skip(r.depth);
      auto t0 = Clock::now();
      auto last = model->prefill(seq, prompt);
      r.prefill.push_back(double(r.prompt) / seconds_since(t0));
      token_id next = argmax(last);  // sampler.hpp's
      t0 = Clock::now();
      for (int i = 0; i < r.gen; ++i) {
        model->decode_top_k(seq, next, best);
        next = best[0].token;
      }
      r.decode.push_back(double(r.gen) / seconds_since(t0));
      if (verbose)
        fmt::print(stderr, "round {}: pp{} tg{} d{}: prefill {:.2f} tok/s, decode {:.2f} tok/s\n", round + 1, r.prompt,
                   r.gen, r.depth, r.prefill.back(), r.decode.back());
    }

  // Decode's ceiling: the host's streaming reads, or on a GPU its device-to-device copy rate.
  const bool on_gpu = std::string_view(model->backend()) == "cuda";
  double largest = 0;
  for (const auto& r : results) largest = std::max(largest, r.bytes);
  const std::size_t buffer = std::clamp<std::size_t>(std::size_t(largest), std::size_t(1) << 16, std::size_t(1) << 30);
  const double bandwidth = on_gpu ? cuda_copy_bandwidth_GBps() : measure_read_bandwidth(threads, buffer);
  const std::string bandwidth_source =
      on_gpu ? "device copy, bytes read + written"
             : fmt::format("host streaming read of {:.1f} MiB, {} threads", double(buffer) / (1 << 20), threads);
  auto fraction = [&](const Result& r, double decode) { return decode * r.bytes / (bandwidth * 1e9); };

  if (output == "json-summary") {  // --json: one object, medians, the keys of earlier releases
    const Result& r = results.front();
    const Stats pre = stats(r.prefill), dec = stats(r.decode);
    const double prefill = pre.median, decode = dec.median;
    nlohmann::ordered_json out{{"prefill_tokens_per_s", prefill},
                               {"decode_tokens_per_s", decode},
                               {"prefill_tokens_per_s_min", pre.min},
                               {"prefill_tokens_per_s_max", pre.max},
                               {"decode_tokens_per_s_min", dec.min},
                               {"decode_tokens_per_s_max", dec.max},
                               {"decode_bytes_per_token", r.bytes},
                               {"measured_read_GBps", bandwidth},
                               {"decode_bandwidth_fraction", fraction(r, decode)},
                               {"bandwidth_measured_as", bandwidth_source},
                               {"prompt", r.prompt},
                               {"context", r.depth},
                               {"gen", r.gen},
                               {"repeat", repeat},
                               {"backend", model->backend()},
                               {"threads", threads},
                               {"kernels", isa},
                               {"precision", precision},
                               {"cpu_features", cpu.describe()}};
    fmt::print("{}\n", out.dump());
    return 0;
  }

  // One row per test, as llama-bench prints them: ppN (prefill) and tgN (decode), "@ dN" at a depth.
  struct Row {
    std::string test;
    const Result* r;
    bool decode;
  };
  std::vector<Row> rows;
  for (const auto& r : results) {
    const std::string at = (r.depth ? fmt::format(" @ d{}", r.depth) : "") +
                           (r.parallel ? fmt::format(" x{}", r.parallel) : "");
    rows.push_back({fmt::format("pp{}{}", r.prompt, at), &r, false});
    rows.push_back({fmt::format("tg{}{}", r.gen, at), &r, true});
  }
  // A batched row against the same test run on one sequence (x1), when that ran too: what sharing
  // each step's weight reads among the sequences gains.
  auto versus_one = [&](const Row& row) -> std::optional<double> {
    if (row.r->parallel < 1) return std::nullopt;
    for (const auto& r : results)
      if (r.parallel == 1 && r.prompt == row.r->prompt && r.gen == row.r->gen && r.depth == row.r->depth)
        return median(row.decode ? row.r->decode : row.r->prefill) / median(row.decode ? r.decode : r.prefill);
    return std::nullopt;
  };
  // Bytes per token hold for one sequence; a batched step's tokens share the reads of whatever
  // experts they choose, so they have no fixed share of the bandwidth.
  auto one_sequence_decode = [](const Row& row) { return row.decode && row.r->parallel <= 1; };
  auto row_json = [&](const Row& row) {
    const auto& samples = row.decode ? row.r->decode : row.r->prefill;
    const Stats s = stats(samples);
    nlohmann::ordered_json j{{"test", row.test},
                             {"n_prompt", row.decode ? 0 : row.r->prompt},
                             {"n_gen", row.decode ? row.r->gen : 0},
                             {"n_depth", row.r->depth},
                             {"n_parallel", std::max(1, row.r->parallel)},
                             {"avg_ts", s.mean},
                             {"stddev_ts", s.sd},
                             {"median_ts", s.median},
                             {"min_ts", s.min},
                             {"max_ts", s.max},
                             {"samples_ts", samples},
                             {"backend", model->backend()},
                             {"threads", threads},
                             {"kernels", isa},
                             {"precision", precision}};
    if (const auto x = versus_one(row)) j["versus_one_sequence"] = *x;
    if (one_sequence_decode(row)) {
      j["decode_bytes_per_token"] = row.r->bytes;
      j["measured_read_GBps"] = bandwidth;
      j["bandwidth_fraction"] = fraction(*row.r, s.median);
    }
    return j;
  };
  if (output == "json") {
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (const auto& row : rows) all.push_back(row_json(row));
    fmt::print("{}\n", all.dump(2));
  } else if (output == "jsonl") {
    for (const auto& row : rows) fmt::print("{}\n", row_json(row).dump());
  } else if (output == "csv") {
    fmt::print("test,n_prompt,n_gen,n_depth,avg_ts,stddev_ts,median_ts,min_ts,max_ts,bandwidth_fraction,backend,threads\n");
    for (const auto& row : rows) {
      const auto j = row_json(row);
      fmt::print("{},{},{},{},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{},{},{}\n", row.test, j["n_prompt"].get<int>(),
                 j["n_gen"].get<int>(), j["n_depth"].get<std::int64_t>(), j["avg_ts"].get<double>(),
                 j["stddev_ts"].get<double>(), j["median_ts"].get<double>(), j["min_ts"].get<double>(),
                 j["max_ts"].get<double>(), one_sequence_decode(row) ? fmt::format("{:.4f}", j["bandwidth_fraction"].get<double>()) : "",
                 model->backend(), threads);
    }
  } else {
    fmt::print("backend: {}, precision {}\nbandwidth: {:.1f} GB/s ({})\n\n", describe_backend(*model), precision, bandwidth,
               bandwidth_source);
    fmt::print("| test | t/s (median) | min – max | bytes/token | share of bandwidth |{}\n| --- | ---: | ---: | ---: | ---: |{}\n",
               batched ? " vs x1 |" : "", batched ? " ---: |" : "");
    for (const auto& row : rows) {
      const Stats s = stats(row.decode ? row.r->decode : row.r->prefill);
      const auto x = versus_one(row);
      fmt::print("| {} | {:.2f} | {:.2f} – {:.2f} | {} | {} |{}\n", row.test, s.median, s.min, s.max,
                 one_sequence_decode(row) ? fmt::format("{:.3f} GB", row.r->bytes / 1e9) : "",
                 one_sequence_decode(row) ? fmt::format("{:.0f}%", 100.0 * fraction(*row.r, s.median)) : "",
                 !batched ? "" : x ? fmt::format(" {:.2f}x |", *x) : "  |");
    }
    if (batched)
      fmt::print("\nxN rows run N sequences at once, each step one forward call over all of them; their t/s is\n"
                 "the sum over the sequences, and vs x1 sets it against the same test on one sequence.\n");
    fmt::print("\n(median and range of {} round{}, each round running every test once; the share of bandwidth uses\n"
               "the median)\n", repeat, repeat == 1 ? "" : "s");
  }
  return 0;
}

const Register reg{{
    .name = "bench",
    .summary = "prefill and decode speed against the memory bandwidth",
    .usage = "gptoss bench -m DIR|--synthetic NAME [-p 512[,1024...]] [-n 32[,...]] [-d 0[,...]] [--parallel 1[,2,...]] [-r 3] [-o md|csv|json|jsonl | --json]",
    .options = with_model_options({
        {"-p,--prompt", "prompt lengths to prefill, comma-separated (default 512)", "N,..."},
        {"-n,--gen,--n-gen", "tokens to decode greedily, comma-separated (default 32)", "N,..."},
        {"-d,--depth,--context", "blank positions before the prompt, comma-separated (default 0)", "N,..."},
        {"--parallel", "sequence counts, comma-separated: run each test on that many sequences at once, one "
                       "forward call per step over all of them (the engine's and `gptoss serve --parallel`'s "
                       "batching), and report their summed t/s", "N,..."},
        {"-r,--repeat", "rounds, 1 to 1000 (default 3): each round runs every test once", "R"},
        {"--synthetic", "instead of -m: random weights of a named shape (gpt-oss-20b, gpt-oss-120b, ...), "
                        "made in memory, not on disk", "NAME"},
        {"-o,--output", "md (default), csv, json or jsonl: one row per test, median and min – max "
                        "(json, jsonl and csv add mean and standard deviation)", "FORMAT"},
        {"--json", "one JSON object of medians for a single configuration (prefill_tokens_per_s, "
                   "decode_tokens_per_s, decode_bandwidth_fraction, ...), with the range in ..._min and ..._max", ""},
    }),
    .run = run_bench,
    .details = "Each test prefills random tokens, then decodes greedily, for every combination of -p, -n and -d.\n"
               "The tests run in --repeat rounds, each round running every test once, so that a slow spell (another\n"
               "process on the core) shows as spread (min – max) rather than as a wrong median. Decode is set against the memory bandwidth measured in the same run: streaming\n"
               "reads of -t threads over a buffer as large as one decode step's traffic (from 64 KiB to 1 GiB),\n"
               "or with --device cuda the GPU's device-to-device copy rate. -d N starts each sequence N positions\n"
               "in, with blank (zero) keys and values in the cache instead of a prefill, to measure decoding at\n"
               "a long context. --parallel N runs each test on N sequences at once, as the engine batches them,\n"
               "and sets the summed t/s against the same test on one sequence when --parallel lists 1 too.",
}};

}  // namespace
}  // namespace gptoss::cli
