// The host's hot kernels at gpt-oss-20b shapes, one benchmark per kernel and instruction set
// (/0 scalar, /1 avx2, /2 avx512; levels the CPU lacks are skipped). Bytes/s compare the GEMVs
// and decode attention with the machine's read bandwidth (they must stream their weights or keys
// from memory: the working sets are several times the last-level cache); FLOP/s compare the
// prefill products and attention with the cores' FMA peak.
#include <cstdint>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "gptoss/config/model_config.hpp"
#include "gptoss/core/huge_page_allocator.hpp"
#include "gptoss/host/kernels.hpp"
#include "gptoss/ops/attention.hpp"
#include "gptoss/ops/rms_norm.hpp"

using namespace gptoss;
using namespace gptoss::host;

namespace {

constexpr ModelConfig C = gpt_oss_20b;
constexpr int H = C.hidden_size, I = C.intermediate_size, D = C.head_dim;

// Matrices cycled through so the working set (>= 1 GiB) is far beyond the caches: some Xeons
// have 480 MB of L3, which held much of the 256 MB used before.
constexpr std::int64_t working_set = std::int64_t(1) << 30;

std::vector<std::uint8_t> random_bytes(std::int64_t n, std::uint8_t max_value = 255) {
  std::mt19937 rng(1);
  std::vector<std::uint8_t> v(static_cast<std::size_t>(n), 0);
  for (auto& b : v) b = std::uint8_t(rng() % (unsigned(max_value) + 1));
  return v;
}
std::vector<float> random_floats(std::int64_t n) {
  std::mt19937 rng(2);
  std::normal_distribution<float> d;
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}
std::vector<bf16> random_bf16(std::int64_t n) {
  std::vector<bf16> v(static_cast<std::size_t>(n));
  auto f = random_floats(n);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = to_bf16(f[i] * 0.02f);
  return v;
}
// Scale bytes near 127 (weights of magnitude ~1).
std::vector<std::uint8_t> random_scales(std::int64_t n) {
  auto v = random_bytes(n, 7);
  for (auto& b : v) b = std::uint8_t(b + 120);
  return v;
}

// The kernels of the benchmark's Isa argument, or null (and the benchmark skipped) when the CPU lacks it.
const Kernels* kernels_arg(benchmark::State& state) {
  const Isa isa = Isa(state.range(0));
  if (isa > cpu_features().best()) {
    state.SkipWithError("instruction set not supported by this CPU");
    return nullptr;
  }
  return &kernels_for(isa);
}

// Activations in the order the kernels' bf16 GEMV reads them.
std::vector<float> arranged_bf16(const Kernels& k, const std::vector<float>& x) {
  std::vector<float> out(x.size());
  k.arrange_bf16(x.data(), int(x.size()), out.data());
  return out;
}

void isa_args(benchmark::internal::Benchmark* b) {
  for (int isa = 0; isa <= int(Isa::avx512); ++isa) b->Arg(isa);
}

// MLP1 of one expert per call (5760 x 2880 MXFP4), one token: the decode product.
void BM_gemv_mxfp4(benchmark::State& state) {
  const Kernels* k = kernels_arg(state);
  if (!k) return;
  const std::int64_t rows = 2 * I, cols = H, bytes = rows * cols / 2 + rows * cols / 32;
  const int copies = int(working_set / bytes) + 1;
  auto blocks = random_bytes(copies * rows * cols / 2);
  auto scales = random_scales(copies * rows * cols / 32);
  auto x = random_floats(cols);
  std::vector<float> xs(static_cast<std::size_t>(cols)), y(static_cast<std::size_t>(rows));
  k->arrange_mxfp4(x.data(), int(cols), xs.data());
  int c = 0;
  for (auto _ : state) {
    k->gemv_mxfp4(blocks.data() + c * rows * cols / 2, scales.data() + c * rows * cols / 32, rows, int(cols), xs.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    c = (c + 1) % copies;
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_gemv_mxfp4)->Apply(isa_args);

// The fused QKV projection (5120 x 2880 bf16), one token.
void BM_gemv_bf16(benchmark::State& state) {
  const Kernels* k = kernels_arg(state);
  if (!k) return;
  const std::int64_t rows = C.qkv_width(), cols = H, bytes = rows * cols * 2;
  const int copies = int(working_set / bytes) + 1;
  auto w = random_bf16(copies * rows * cols);
  const auto x = arranged_bf16(*k, random_floats(cols));
  std::vector<float> y(static_cast<std::size_t>(rows));
  int c = 0;
  for (auto _ : state) {
    k->gemv_bf16(w.data() + c * rows * cols, rows, int(cols), x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    c = (c + 1) % copies;
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_gemv_bf16)->Apply(isa_args);

// The unembedding (201088 x 2880 bf16, 1.16 GB), one token.
void BM_unembedding(benchmark::State& state) {
  const Kernels* k = kernels_arg(state);
  if (!k) return;
  const std::int64_t rows = C.vocab_size, cols = H;
  static const auto w = random_bf16(rows * cols);
  const auto x = arranged_bf16(*k, random_floats(cols));
  std::vector<float> y(static_cast<std::size_t>(rows));
  for (auto _ : state) {
    k->gemv_bf16(w.data(), rows, int(cols), x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * rows * cols * 2);
}
BENCHMARK(BM_unembedding)->Apply(isa_args)->Unit(benchmark::kMillisecond);

// One expert's MLP1 for 64 tokens (a 512-token prompt's average share of an expert), one thread,
// through host::matmul: decoding tiles and the float32 product.
void BM_gemm_mxfp4(benchmark::State& state) {
  const Kernels* k = kernels_arg(state);
  if (!k) return;
  const std::int64_t rows = 2 * I, cols = H;
  const int tokens = int(state.range(1));
  auto blocks = random_bytes(rows * cols / 2);
  auto scales = random_scales(rows * cols / 32);
  auto x = random_floats(tokens * cols);
  std::vector<float> y(static_cast<std::size_t>(tokens * rows));
  ThreadPool pool(1);
  Scratch scratch(1);  // one worker: this thread
  const Mxfp4Rows w{Mxfp4Matrix{blocks.data(), scales.data(), int(rows), int(cols)}};
  for (auto _ : state) {
    matmul(w, nullptr, x.data(), cols, tokens, y.data(), rows, pool, scratch, *k);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(double(state.iterations()) * 2.0 * rows * cols * tokens,
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_gemm_mxfp4)->ArgsProduct({{0, 1, 2}, {64}})->Unit(benchmark::kMillisecond);

// Precision::exact against Precision::bf16 with this CPU's kernels (range 0: 0 exact, 1 bf16, 2
// bf16 on the float32 kernels even where vdpbf16ps is there), for 64 tokens (range 1; 1 is the
// GEMV): one expert's MLP1 (MXFP4) and the fused QKV projection (bf16).
template <bool Mxfp4>
void BM_gemm_precision(benchmark::State& state) {
  const Kernels& k = state.range(0) == 2 ? kernels_for(active_isa(), Precision::bf16, /*native=*/false)
                                         : kernels(Precision(state.range(0)));
  const std::int64_t rows = Mxfp4 ? 2 * I : C.qkv_width(), cols = H;
  const int tokens = int(state.range(1));
  auto blocks = random_bytes(rows * cols / 2);
  auto scales = random_scales(rows * cols / 32);
  auto wb = random_bf16(rows * cols);
  auto x = random_floats(tokens * cols);
  std::vector<float> y(static_cast<std::size_t>(tokens * rows));
  ThreadPool pool(1);
  Scratch scratch(1);
  auto run = [&](const auto& w) {
    for (auto _ : state) {
      matmul(w, nullptr, x.data(), cols, tokens, y.data(), rows, pool, scratch, k);
      benchmark::DoNotOptimize(y.data());
    }
  };
  if constexpr (Mxfp4) run(Mxfp4Rows{Mxfp4Matrix{blocks.data(), scales.data(), int(rows), int(cols)}});
  else run(Bf16Rows{Bf16Matrix{wb.data(), int(rows), int(cols)}});
  state.counters["FLOP/s"] = benchmark::Counter(double(state.iterations()) * 2.0 * rows * cols * tokens,
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_gemm_precision<true>)->ArgsProduct({{0, 1, 2}, {1, 64}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_precision<false>)->ArgsProduct({{0, 1, 2}, {1, 64}})->Unit(benchmark::kMillisecond);

// A batched decode step's share of one expert (range 1: 1 to 8 tokens), one thread, with the
// weights of 16 experts taken in turn so that they come from memory, as in decoding: as matmul
// chooses (range 0 = 0: tiles above gemv_max_tokens tokens) or always one GEMV per token over rows
// kept warm (range 0 = 1). Both give the same floats; this is how gemv_max_tokens was chosen.
void BM_few_tokens_mxfp4(benchmark::State& state) {
  Kernels k = kernels();
  if (state.range(0) == 1) k.gemm_rows = nullptr;
  const std::int64_t rows = 2 * I, cols = H, copies = 16;
  const int tokens = int(state.range(1));
  auto blocks = random_bytes(copies * rows * cols / 2);
  auto scales = random_scales(copies * rows * cols / 32);
  auto x = random_floats(tokens * cols);
  std::vector<float> y(static_cast<std::size_t>(tokens * rows));
  ThreadPool pool(1);
  Scratch scratch(1);
  std::int64_t e = 0;
  for (auto _ : state) {
    const Mxfp4Rows w{Mxfp4Matrix{blocks.data() + e * rows * cols / 2, scales.data() + e * rows * cols / 32, int(rows),
                                  int(cols)}};
    matmul(w, nullptr, x.data(), cols, tokens, y.data(), rows, pool, scratch, k);
    benchmark::DoNotOptimize(y.data());
    e = (e + 1) % copies;
  }
  state.counters["tokens/s"] = benchmark::Counter(double(state.iterations()) * tokens, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_few_tokens_mxfp4)->ArgsProduct({{0, 1}, {1, 2, 3, 4, 8}})->Unit(benchmark::kMillisecond);

// Decode attention: one token's 64 query heads over `context` cached keys and values, laid out by
// key/value head as the KV cache holds them. 256 keys (1 MB) stay in cache and show the arithmetic;
// 4096 and 32768 (16 and 128 MB) stream from memory.
void BM_attention_decode(benchmark::State& state) {
  const Kernels* k = kernels_arg(state);
  if (!k) return;
  const int group = C.heads_per_kv(), kv = C.kv_width(), kv_heads = C.num_key_value_heads;
  const std::int64_t context = state.range(1);
  using Rows = std::vector<float, HugePageAllocator<float>>;
  const auto random_rows = [](std::int64_t n) {
    const auto f = random_floats(n);
    return Rows(f.begin(), f.end());
  };
  const Rows keys = random_rows(context * kv), values = random_rows(context * kv);
  auto q = random_floats(C.q_width()), sinks = random_floats(C.num_attention_heads);
  std::vector<float> scratch(ops::TokenAttention::scratch_floats(kv_heads, group, D)), out(std::size_t(C.q_width()));
  ops::TokenAttention ta{kv_heads, group, D, scratch.data()};
  for (auto _ : state) {
    ta.start(sinks.data());
    for (int g = 0; g < kv_heads; ++g)
      for (std::int64_t j = 0; j < context; j += ops::key_block) {
        const std::int64_t at = (g * context + j) * D;
        ta.add(*k, g, q.data(), keys.data() + at, values.data() + at,
               int(std::min<std::int64_t>(ops::key_block, context - j)), 0.125f);
      }
    ta.finish(out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * context * kv * 2 * std::int64_t(sizeof(float)));
  state.counters["FLOP/s"] = benchmark::Counter(double(state.iterations()) * 4.0 * C.num_attention_heads * context * D,
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_attention_decode)->ArgsProduct({{0, 1, 2}, {256, 4096, 32768}})->Unit(benchmark::kMillisecond);

// Prefill attention: 512 causal queries (all 64 heads each) over the prompt's keys.
void BM_attention_prefill(benchmark::State& state) {
  const Kernels* k = kernels_arg(state);
  if (!k) return;
  const int group = C.heads_per_kv(), kv = C.kv_width(), kv_heads = C.num_key_value_heads, T = int(state.range(1));
  auto keys = random_floats(std::int64_t(T) * kv), values = random_floats(std::int64_t(T) * kv);
  auto q = random_floats(std::int64_t(T) * C.q_width()), sinks = random_floats(C.num_attention_heads);
  std::vector<float> scratch(ops::TokenAttention::scratch_floats(kv_heads, group, D)),
      out(static_cast<std::size_t>(T) * C.q_width());
  ops::TokenAttention ta{kv_heads, group, D, scratch.data()};
  for (auto _ : state) {
    for (int t = 0; t < T; ++t) {
      ta.start(sinks.data());
      for (int g = 0; g < kv_heads; ++g)
        for (int j = 0; j <= t; j += ops::key_block) {
          const std::int64_t at = (std::int64_t(g) * T + j) * D;
          ta.add(*k, g, q.data() + std::int64_t(t) * C.q_width(), keys.data() + at, values.data() + at,
                 std::min(ops::key_block, t + 1 - j), 0.125f);
        }
      ta.finish(out.data() + std::int64_t(t) * C.q_width());
    }
    benchmark::DoNotOptimize(out.data());
  }
  const double pairs = double(T) * (T + 1) / 2;
  state.counters["FLOP/s"] = benchmark::Counter(double(state.iterations()) * 4.0 * C.num_attention_heads * pairs * D,
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_attention_prefill)->ArgsProduct({{0, 1, 2}, {512}})->Unit(benchmark::kMillisecond);

// RMSNorm of one token's residual stream (reads x and the gain, writes y).
void BM_rms_norm(benchmark::State& state) {
  auto x = random_floats(H);
  auto g = random_bf16(H);
  std::vector<float> y(static_cast<std::size_t>(H));
  const Bf16Vector gain{g.data(), H};
  for (auto _ : state) {
    ops::rms_norm(x.data(), gain, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * H * (4 + 2 + 4));
}
BENCHMARK(BM_rms_norm);

}  // namespace

BENCHMARK_MAIN();
