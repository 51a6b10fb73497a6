// Every CUDA kernel against the host implementation on fresh random inputs of several sizes
// (including the real models' widths). Device outputs are poisoned with NaN before each run, so an
// element a kernel fails to write fails the comparison.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "cuda/harness.hpp"
#include "gptoss/cuda/kernels.cuh"
#include "gptoss/generate/sampler.hpp"
#include "gptoss/host/kernels.hpp"
#include "gptoss/ops/attention.hpp"
#include "gptoss/ops/rms_norm.hpp"
#include "gptoss/ops/rope.hpp"
#include "gptoss/tools/presets.hpp"

using namespace gptoss;
using namespace gptoss::tools;
using gpu::DeviceBuffer;

namespace {

std::mt19937& rng() {
  static std::mt19937 r(20250901);
  return r;
}

std::vector<float> random_floats(std::size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}
std::vector<bf16> random_bf16(std::size_t n, float scale = 1.0f) {
  std::vector<bf16> v(n);
  for (auto& x : v) x = to_bf16(std::normal_distribution<float>(0.0f, scale)(rng()));
  return v;
}
// Bytes in [lo, hi]: MXFP4 codes (any nibble) or scales.
std::vector<std::uint8_t> random_bytes(std::size_t n, int lo = 0, int hi = 255) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<std::uint8_t> v(n);
  for (auto& x : v) x = std::uint8_t(d(rng()));
  return v;
}

template <class T>
DeviceBuffer<T> upload(const std::vector<T>& v) {
  DeviceBuffer<T> b(v.size());
  GPTOSS_CUDA_CHECK(cudaMemcpy(b.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return b;
}
template <class T>
std::vector<T> download(const DeviceBuffer<T>& b) {
  GPTOSS_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<T> v(b.size());
  GPTOSS_CUDA_CHECK(cudaMemcpy(v.data(), b.get(), v.size() * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}
template <class T>
DeviceBuffer<T> poisoned(std::size_t n) {
  DeviceBuffer<T> b(n);
  GPTOSS_CUDA_CHECK(cudaMemset(b.get(), 0xff, n * sizeof(T)));  // NaN as float, -1 as int
  return b;
}

std::string shape(std::initializer_list<std::int64_t> dims) {
  std::string s;
  for (auto d : dims) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

host::ThreadPool& pool() {
  static host::ThreadPool p(2);
  return p;
}

}  // namespace

CT_CASE(embedding_copies_rows_exactly) {
  for (int H : {32, 160, 2880}) {
    const int V = 50;
    auto table = random_bf16(std::size_t(V) * H);
    std::vector<token_id> tokens{0, 49, 7, 7, 23, 1, 48};
    auto dt = upload(table);
    auto dtok = upload(tokens);
    auto dx = poisoned<float>(tokens.size() * H);
    gpu::embedding(dt.get(), H, dtok.get(), std::int64_t(tokens.size()), dx.get(), nullptr);
    auto got = download(dx);
    std::vector<float> want(got.size());
    for (std::size_t t = 0; t < tokens.size(); ++t)
      for (int i = 0; i < H; ++i) want[t * H + i] = to_float(table[tokens[t] * H + i]);
    CT_CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0, "H=" + std::to_string(H));
  }
}

// RMSNorm in float64, the exact function float32 code approximates.
static std::vector<float> rms_norm_exact(const std::vector<float>& x, int T, int H, const std::vector<bf16>& gain) {
  std::vector<float> y(x.size());
  for (int t = 0; t < T; ++t) {
    const float* xr = x.data() + std::size_t(t) * H;
    double sum = 0.0;
    for (int i = 0; i < H; ++i) sum += double(xr[i]) * xr[i];
    const double inv = 1.0 / std::sqrt(sum / H + 1e-5);  // eps = 1e-5 inside the root (spec 3.2)
    for (int i = 0; i < H; ++i) y[std::size_t(t) * H + i] = float(xr[i] * inv * double(to_float(gain[std::size_t(i)])));
  }
  return y;
}

CT_CASE(rms_norm_matches_host) {
  // Activations of size 1e-3 make mean(x^2) ~1e-6, a tenth of eps: a wrong or missing eps shows.
  for (float size : {3.0f, 1e-3f})
    for (int H : {32, 160, 2880})
      for (int T : {1, 5, 33}) {
        auto x = random_floats(std::size_t(T) * H, size);
        auto gain = random_bf16(std::size_t(H));
        // A float32 sum of H squares, in any order, is within (H - 1) * 2^-24 of the exact sum; the
        // square root halves that and the scaling adds a few roundings: H * 2^-24 bounds it all, for
        // the host's sequential sum and the device's tree alike (which differ by ~1e-6 at H = 2880).
        const double bound = H * 0x1p-24;
        const auto exact = rms_norm_exact(x, T, H, gain);
        std::vector<float> host(x.size());
        ops::rms_norm_rows(x.data(), T, Bf16Vector{gain.data(), H}, host.data());
        CT_CHECK(test::max_row_relative_error(host.data(), exact.data(), T, H) < bound, "host " + shape({T, H}));
        auto dx = upload(x);
        auto dg = upload(gain);
        auto dy = poisoned<float>(x.size());
        gpu::rms_norm(dx.get(), nullptr, T, dg.get(), H, dy.get(), nullptr);
        auto got = download(dy);
        CT_CHECK(test::max_row_relative_error(got.data(), exact.data(), T, H) < bound, shape({T, H}));

        // Gathered rows (the rows whose logits are wanted), in a different order: the same rows exactly.
        std::vector<int> rows{T - 1, 0};
        auto dr = upload(rows);
        auto ds = poisoned<float>(2 * std::size_t(H));
        gpu::rms_norm(dx.get(), dr.get(), 2, dg.get(), H, ds.get(), nullptr);
        auto sel = download(ds);
        CT_CHECK(std::memcmp(sel.data(), got.data() + std::size_t(T - 1) * H, H * sizeof(float)) == 0, "gathered last");
        CT_CHECK(std::memcmp(sel.data() + H, got.data(), H * sizeof(float)) == 0, "gathered first");
      }
}

CT_CASE(linear_bf16_matches_host) {
  struct Shape {
    int rows, cols, tokens;
  };
  // Vector path (cols % 8 == 0) at the real QKV and router shapes and odd token counts around the
  // 8-token tile; the scalar path with cols % 8 != 0; the tiled path from tiled_min_tokens tokens,
  // with partial row and token tiles (201 rows, 130 tokens) and a column count that is not (the
  // vector path again at 64 tokens).
  for (Shape s : {Shape{37, 160, 1}, Shape{5120, 2880, 1}, Shape{32, 2880, 3}, Shape{1000, 160, 13}, Shape{2880, 4096, 9},
                  Shape{96, 36, 3}, Shape{7, 20, 17}, Shape{5120, 2880, 70}, Shape{201, 160, 130}, Shape{2880, 4096, 64},
                  Shape{33, 40, 64}})
    for (bool accumulate : {false, true}) {
      auto W = random_bf16(std::size_t(s.rows) * s.cols, 0.05f);
      auto bias = random_bf16(std::size_t(s.rows));
      auto x = random_floats(std::size_t(s.tokens) * s.cols);
      auto y0 = random_floats(std::size_t(s.tokens) * s.rows);
      std::vector<float> want(y0.size());
      host::Scratch scratch;
      const Bf16Vector b{bias.data(), s.rows};
      host::matmul(host::Bf16Rows{Bf16Matrix{W.data(), s.rows, s.cols}}, &b, x.data(), s.cols, s.tokens,
                          want.data(), s.rows, pool(), scratch);
      if (accumulate)
        for (std::size_t i = 0; i < want.size(); ++i) want[i] = y0[i] + want[i];
      auto dW = upload(W);
      auto db = upload(bias);
      auto dx = upload(x);
      auto dy = accumulate ? upload(y0) : poisoned<float>(y0.size());
      gpu::linear_bf16(Bf16Matrix{dW.get(), s.rows, s.cols}, db.get(), dx.get(), s.cols, s.tokens, dy.get(), s.rows,
                               accumulate, nullptr);
      auto got = download(dy);
      const double err = test::max_row_relative_error(got.data(), want.data(), s.tokens, s.rows);
      CT_CHECK(err < 2e-5, shape({s.rows, s.cols, s.tokens}) + (accumulate ? " accumulate" : "") + ": error " +
                               std::to_string(err));
    }
}

CT_CASE(rope_matches_host) {
  for (int D : {32, 64})
    for (int T : {1, 6}) {
      ModelConfig c = gpt_oss_20b;
      c.head_dim = D;
      c.num_attention_heads = 4;
      c.num_key_value_heads = 2;
      const int Q = c.q_width(), KV = c.kv_width(), W = c.qkv_width();
      auto qkv = random_floats(std::size_t(T) * W);
      // Positions up to past YaRN's original context and near the end of the model's.
      std::vector<std::int64_t> pos{0, 1, 127, 4095, 4160, 131071};
      std::vector<gpu::TokenMeta> meta(static_cast<std::size_t>(T));
      for (int t = 0; t < T; ++t) meta[std::size_t(t)].position = pos[std::size_t(t)];
      ops::Rope rope(c);
      std::vector<float> want = qkv, cs(static_cast<std::size_t>(D));
      for (int t = 0; t < T; ++t) {
        rope.apply(want.data() + std::size_t(t) * W, c.num_attention_heads, pos[std::size_t(t)], cs.data());
        rope.apply(want.data() + std::size_t(t) * W + Q, c.num_key_value_heads, pos[std::size_t(t)], cs.data());
      }
      auto dqkv = upload(qkv);
      auto dmeta = upload(meta);
      auto dinv = upload(rope.inv_freq());
      gpu::rope(dqkv.get(), W, dmeta.get(), T, dinv.get(), c.yarn(), c.num_attention_heads, c.num_key_value_heads,
                        nullptr);
      auto got = download(dqkv);
      // cosf/sinf of the device and of glibc may differ in the last bit.
      CT_CHECK(test::max_row_relative_error(got.data(), want.data(), T, W) < 1e-5, "D=" + std::to_string(D) + " T=" + std::to_string(T));
      // v is left alone.
      bool v_same = true;
      for (int t = 0; t < T; ++t)
        for (int i = Q + KV; i < W; ++i) v_same &= got[std::size_t(t) * W + i] == qkv[std::size_t(t) * W + i];
      CT_CHECK(v_same, "v untouched");
    }
}

namespace {

// The attention of one layer for a batch of segments, computed on the host from the spec (two-pass
// softmax with the sink in float64), with the cache contents supplied by the test.
struct AttnCase {
  int q_heads, kv_heads, D, window;  // window 0: full layer
  std::vector<std::pair<std::int64_t, std::int64_t>> segments;  // (tokens already cached, new tokens)
  std::int64_t capacity;
  bool fixed = false;  // the window as the variant's constant (8 or 128), not a run-time argument
  bool sinks = true;
};

// The launch under the case's attention variant. A variant that does not read the run-time window
// gets a nonsense one, and one without sinks a null sink array.
template <bool Sinks>
void launch_attention_variant(const AttnCase& ac, gpu::AttentionArgs a, std::int64_t T, std::int64_t max_keys,
                              const bf16* sinks, float* out) {
  if (!Sinks) sinks = nullptr;
  if (ac.window == 0) {
    a.window = -12345;
    gpu::attention<AttentionVariant<full_window, Sinks>>(a, T, max_keys, sinks, out, nullptr);
  } else if (!ac.fixed) {
    gpu::attention<AttentionVariant<runtime_window, Sinks>>(a, T, max_keys, sinks, out, nullptr);
  } else {
    a.window = -12345;
    if (ac.window == 8) gpu::attention<AttentionVariant<8, Sinks>>(a, T, max_keys, sinks, out, nullptr);
    else if (ac.window == 128) gpu::attention<AttentionVariant<128, Sinks>>(a, T, max_keys, sinks, out, nullptr);
    else CT_CHECK(false, "no fixed variant of window " + std::to_string(ac.window));
  }
}

void run_attention_case(const AttnCase& ac, std::int64_t partial_slots) {
  ModelConfig c = tiny_test;
  c.num_attention_heads = ac.q_heads;
  c.num_key_value_heads = ac.kv_heads;
  c.head_dim = ac.D;
  c.sliding_window = ac.window > 0 ? ac.window : 8;
  const int layer = ac.window > 0 ? 0 : 1;  // layer 0 slides, layer 1 is full
  const int D = ac.D, Q = c.q_width(), KV = c.kv_width(), W = c.qkv_width(), G = c.heads_per_kv();
  const auto layout = gpu::KvLayout::of(c);

  std::int64_t T = 0;
  for (auto& s : ac.segments) T += s.second;
  auto qkv = random_floats(std::size_t(T) * W);
  auto sinks = random_bf16(std::size_t(ac.q_heads), 2.0f);

  // Per segment: the full history of keys and values (old ones go to the cache, new ones in qkv).
  std::vector<gpu::TokenMeta> meta;
  std::vector<std::vector<float>> keys, values;
  std::vector<DeviceBuffer<float>> caches;
  std::int64_t offset = 0;
  std::int64_t max_pos = 0;
  for (auto [start, n] : ac.segments) {
    std::vector<float> k = random_floats(std::size_t(start + n) * KV), v = random_floats(std::size_t(start + n) * KV);
    for (std::int64_t j = 0; j < n; ++j)
      for (int i = 0; i < KV; ++i) {
        k[std::size_t((start + j) * KV + i)] = qkv[std::size_t((offset + j) * W + Q + i)];
        v[std::size_t((start + j) * KV + i)] = qkv[std::size_t((offset + j) * W + Q + KV + i)];
      }
    // The cache image: for each earlier position its slot (a ring slot keeps the latest position).
    std::vector<float> image(std::size_t(layout.total_floats(ac.capacity)), NAN);
    for (std::int64_t p = 0; p < start; ++p) {
      std::copy_n(k.data() + p * KV, KV, layout.key(image.data(), layer, p, ac.capacity));
      std::copy_n(v.data() + p * KV, KV, layout.value(image.data(), layer, p, ac.capacity));
    }
    caches.push_back(upload(image));
    for (std::int64_t j = 0; j < n; ++j) {
      meta.push_back({start + j, start, start + n, offset, caches.back().get(), ac.capacity});
      max_pos = std::max(max_pos, start + j);
    }
    keys.push_back(std::move(k));
    values.push_back(std::move(v));
    offset += n;
  }

  std::vector<double> want(std::size_t(T) * Q);
  const double scale = 1.0 / std::sqrt(double(D));
  std::int64_t t = 0;
  for (std::size_t s = 0; s < ac.segments.size(); ++s)
    for (std::int64_t j = 0; j < ac.segments[s].second; ++j, ++t) {
      const std::int64_t pos = ac.segments[s].first + j;
      const ops::KeyRange r{ac.window > 0 ? std::max<std::int64_t>(0, pos - ac.window + 1) : 0, pos};
      for (int h = 0; h < ac.q_heads; ++h) {
        const int g = h / G;
        const float* q = qkv.data() + t * W + h * D;
        std::vector<double> logit;
        for (std::int64_t p = r.first; p <= r.last; ++p) {
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += double(q[d]) * keys[s][std::size_t(p * KV + g * D + d)];
          logit.push_back(dot * scale);
        }
        const double sink = ac.sinks ? double(to_float(sinks[std::size_t(h)])) : -double(INFINITY);
        double m = sink;
        for (double l : logit) m = std::max(m, l);
        double z = ac.sinks ? std::exp(sink - m) : 0.0;
        for (double l : logit) z += std::exp(l - m);
        for (int d = 0; d < D; ++d) {
          double acc = 0;
          for (std::size_t i = 0; i < logit.size(); ++i)
            acc += std::exp(logit[i] - m) / z * values[s][std::size_t((r.first + std::int64_t(i)) * KV + g * D + d)];
          want[std::size_t(t * Q + h * D + d)] = acc;
        }
      }
    }

  auto dqkv = upload(qkv);
  auto dmeta = upload(meta);
  auto dsinks = upload(sinks);
  auto dpart = poisoned<float>(std::size_t(partial_slots) * (D + 2));
  auto dout = poisoned<float>(std::size_t(T) * Q);
  const std::int64_t max_keys = ac.window > 0 ? std::min<std::int64_t>(ac.window, max_pos + 1) : max_pos + 1;
  gpu::AttentionArgs a{};
  a.qkv = dqkv.get(), a.qkv_width = W, a.q_width = Q, a.kv_width = KV, a.head_dim = D, a.q_heads = ac.q_heads;
  a.group = G, a.layer = layer, a.window = ac.window, a.scale = float(scale), a.kv = layout, a.meta = dmeta.get();
  a.partial = dpart.get();
  a.splits = gpu::attention_splits(max_keys, T, ac.q_heads, partial_slots);
  if (ac.sinks) launch_attention_variant<true>(ac, a, T, max_keys, dsinks.get(), dout.get());
  else launch_attention_variant<false>(ac, a, T, max_keys, dsinks.get(), dout.get());
  auto got = download(dout);
  std::vector<float> wantf(want.begin(), want.end());
  const double err = test::max_row_relative_error(got.data(), wantf.data(), T, Q);
  CT_CHECK(err < 1e-5, "heads " + std::to_string(ac.q_heads) + "/" + std::to_string(ac.kv_heads) + " D=" +
                           std::to_string(D) + " window " + std::to_string(ac.window) +
                           (ac.fixed ? " (fixed)" : "") + (ac.sinks ? "" : " no sinks") + " splits " +
                           std::to_string(a.splits) + ": error " + std::to_string(err));

  // Then the new keys and values go to the cache: every position of the last `slots` lands in its slot.
  gpu::kv_store(dqkv.get(), W, Q, KV, layout, layer, dmeta.get(), T, nullptr);
  for (std::size_t s = 0; s < ac.segments.size(); ++s) {
    auto image = download(caches[s]);
    const auto [start, n] = ac.segments[s];
    const std::int64_t slots = layout.slots(layer, ac.capacity);
    bool ok = true;
    for (std::int64_t p = std::max<std::int64_t>(0, start + n - slots); p < start + n; ++p) {
      ok &= std::equal(keys[s].begin() + p * KV, keys[s].begin() + (p + 1) * KV, layout.key(image.data(), layer, p, ac.capacity));
      ok &= std::equal(values[s].begin() + p * KV, values[s].begin() + (p + 1) * KV,
                       layout.value(image.data(), layer, p, ac.capacity));
    }
    CT_CHECK(ok, "kv_store of segment " + std::to_string(s));
  }
}

}  // namespace

CT_CASE(attention_matches_reference) {
  // Decode (one new token on a long cache: many splits), prefill from empty, mixed batches, ring
  // wrap-around on sliding layers, the real models' heads (64/8, D=64), and a wider head.
  std::vector<AttnCase> cases{
      {4, 2, 32, 8, {{0, 1}}, 64},
      {4, 2, 32, 8, {{0, 20}}, 64},
      {4, 2, 32, 0, {{0, 20}}, 64},
      {4, 2, 32, 8, {{30, 1}, {5, 7}, {0, 3}}, 64},
      {4, 2, 32, 0, {{30, 1}, {5, 7}, {0, 3}}, 64},
      {64, 8, 64, 128, {{1000, 1}}, 2048},
      {64, 8, 64, 0, {{1000, 1}}, 2048},
      {64, 8, 64, 0, {{3000, 2}, {17, 1}}, 4096},
      {64, 8, 64, 128, {{0, 300}}, 512},
      {8, 1, 64, 0, {{600, 40}}, 1024},
      {8, 2, 96, 0, {{100, 3}, {0, 5}}, 256},  // head_dim over 64: 8 values per lane
      // The other variants: windows fixed at compile time, and no sinks.
      {4, 2, 32, 8, {{30, 1}, {5, 7}, {0, 3}}, 64, true},
      {64, 8, 64, 128, {{1000, 1}}, 2048, true},
      {64, 8, 64, 128, {{0, 300}}, 512, true, false},
      {4, 2, 32, 0, {{30, 1}, {5, 7}, {0, 3}}, 64, false, false},
      {64, 8, 64, 0, {{3000, 2}, {17, 1}}, 4096, false, false},
      {4, 2, 32, 8, {{30, 1}, {5, 7}, {0, 3}}, 64, false, false},
  };
  for (const auto& c : cases) run_attention_case(c, 65536);
  // A small partial buffer: fewer, longer splits (one per query for the 300-token prefill).
  for (const auto& c : cases) run_attention_case(c, std::int64_t(c.q_heads) * 320);
}

CT_CASE(route_matches_host_including_ties) {
  for (int E : {8, 32, 128})
    for (int K : {1, 4}) {
      const int T = 9;
      auto logits = random_floats(std::size_t(T) * E);
      // Exact ties: token 1 all equal, token 2 pairs of equal values, token 3 a tie at the k-th place.
      std::fill_n(logits.begin() + E, E, 0.5f);
      for (int e = 0; e < E; ++e) logits[std::size_t(2 * E + e)] = float(e / 2);
      for (int e = 0; e < E; ++e) logits[std::size_t(3 * E + e)] = e < K - 1 ? 10.0f + float(e) : 1.0f;
      std::vector<int> want_idx(std::size_t(T) * K);
      std::vector<float> want_w(std::size_t(T) * K);
      for (int t = 0; t < T; ++t)
        math::route_top_k(logits.data() + std::size_t(t) * E, E, K, want_idx.data() + t * K, want_w.data() + t * K);
      auto dl = upload(logits);
      auto di = poisoned<int>(want_idx.size());
      auto dw = poisoned<float>(want_w.size());
      gpu::route(dl.get(), T, E, K, di.get(), dw.get(), nullptr);
      CT_CHECK(download(di) == want_idx, "indices E=" + std::to_string(E) + " K=" + std::to_string(K));
      auto got_w = download(dw);
      CT_CHECK(test::max_row_relative_error(got_w.data(), want_w.data(), T, K) < 1e-6, "weights");
    }
}

namespace {

struct MoECase {
  int H, I, E, K, T;
  bool skewed = false;  // every token routed to experts 0 .. K-1: groups of T pairs, the others empty
};

void run_moe_case(const MoECase& mc) {
  const int H = mc.H, I = mc.I, E = mc.E, K = mc.K, T = mc.T;
  auto w1b = random_bytes(std::size_t(E) * 2 * I * H / 2);
  auto w1s = random_bytes(std::size_t(E) * 2 * I * H / 32, 116, 124);
  auto w2b = random_bytes(std::size_t(E) * H * I / 2);
  auto w2s = random_bytes(std::size_t(E) * H * I / 32, 116, 124);
  auto b1 = random_bf16(std::size_t(E) * 2 * I);
  auto b2 = random_bf16(std::size_t(E) * H);
  auto x = random_floats(std::size_t(T) * H);
  auto residual = random_floats(std::size_t(T) * H);
  std::vector<int> chosen(std::size_t(T) * K);
  std::vector<float> weight(std::size_t(T) * K);
  {
    auto logits = random_floats(std::size_t(T) * E);
    for (int t = 0; t < T; ++t)
      math::route_top_k(logits.data() + std::size_t(t) * E, E, K, chosen.data() + t * K, weight.data() + t * K);
    if (mc.skewed)
      for (int t = 0; t < T; ++t)
        for (int k = 0; k < K; ++k) chosen[std::size_t(t * K + k)] = (t + k) % K;
  }
  const float limit = 7.0f;
  const Mxfp4Experts hw1{w1b.data(), w1s.data(), E, 2 * I, H}, hw2{w2b.data(), w2s.data(), E, H, I};

  // Host: per (token, rank) MLP1 with bias, SwiGLU, MLP2 with bias, then the weighted sum in rank order.
  std::vector<float> want_act(std::size_t(T) * K * I), want = residual;
  host::Scratch scratch;
  for (int t = 0; t < T; ++t) {
    std::vector<float> sum(std::size_t(H), 0.0f);
    for (int k = 0; k < K; ++k) {
      const int e = chosen[std::size_t(t * K + k)];
      std::vector<float> h1(static_cast<std::size_t>(2 * I)), y(static_cast<std::size_t>(H));
      const Bf16Vector bias1{b1.data() + std::size_t(e) * 2 * I, 2 * I}, bias2{b2.data() + std::size_t(e) * H, H};
      host::matmul(host::Mxfp4Rows{hw1.expert(e)}, &bias1, x.data() + std::size_t(t) * H, H, 1, h1.data(),
                          2 * I, pool(), scratch);
      float* act = want_act.data() + std::size_t(t * K + k) * I;
      for (int j = 0; j < I; ++j) act[j] = math::swiglu(h1[std::size_t(2 * j)], h1[std::size_t(2 * j + 1)], limit);
      host::matmul(host::Mxfp4Rows{hw2.expert(e)}, &bias2, act, I, 1, y.data(), H, pool(), scratch);
      for (int i = 0; i < H; ++i) sum[std::size_t(i)] += weight[std::size_t(t * K + k)] * y[std::size_t(i)];
    }
    for (int i = 0; i < H; ++i) want[std::size_t(t) * H + i] += sum[std::size_t(i)];
  }

  auto dw1b = upload(w1b), dw1s = upload(w1s), dw2b = upload(w2b), dw2s = upload(w2s);
  auto db1 = upload(b1), db2 = upload(b2);
  auto dx = upload(x), dres = upload(residual);
  auto dchosen = upload(chosen);
  auto dweight = upload(weight);
  auto dact = poisoned<float>(want_act.size());
  const Mxfp4Experts dw1{dw1b.get(), dw1s.get(), E, 2 * I, H}, dw2{dw2b.get(), dw2s.get(), E, H, I};
  gpu::expert_mlp1(dx.get(), H, I, T, dchosen.get(), K, dw1, Bf16Matrix{db1.get(), E, 2 * I}, limit, dact.get(),
                           nullptr);
  auto got_act = download(dact);
  const std::string what = shape({H, I, E, K, T});
  const double err_act = test::max_row_relative_error(got_act.data(), want_act.data(), std::int64_t(T) * K, I);
  CT_CHECK(err_act < 2e-5, "mlp1+swiglu " + what + ": error " + std::to_string(err_act));

  // MLP2 from the host's activations, so its own error is measured.
  auto dact_host = upload(want_act);
  gpu::expert_mlp2(dact_host.get(), H, I, T, dchosen.get(), dweight.get(), K, dw2, Bf16Matrix{db2.get(), E, H},
                           dres.get(), nullptr);
  auto got = download(dres);
  const double err = test::max_row_relative_error(got.data(), want.data(), T, H);
  CT_CHECK(err < 2e-5, "mlp2+combine " + what + ": error " + std::to_string(err));

  // The whole MoE MLP as the model runs it: grouped by expert from grouped_min_pairs_per_expert
  // pairs per expert on. A pair whose expert index is out of range (-1) makes its token's row NaN.
  const bool grouped = gpu::experts_grouped(T, K, E);
  auto dres2 = upload(residual);
  auto dact2 = poisoned<float>(want_act.size());
  auto dy = DeviceBuffer<float>(std::size_t(T) * K * H);
  auto dgroups = poisoned<int>(std::size_t(2 * E + T * K));
  std::vector<int> chosen_bad = chosen;
  chosen_bad[0] = -1;
  auto dchosen_bad = upload(chosen_bad);
  for (bool bad : {false, true}) {
    const gpu::ExpertArgs ea{dx.get(), H, I, E, K, (bad ? dchosen_bad : dchosen).get(), dweight.get(),
                                     dw1, dw2, Bf16Matrix{db1.get(), E, 2 * I}, Bf16Matrix{db2.get(), E, H}, limit,
                                     dact2.get(), dy.get(), {dgroups.get(), dgroups.get() + E, dgroups.get() + 2 * E}};
    gpu::expert_mlp(ea, T, dres2.get(), nullptr);
    auto got2 = download(dres2);
    const std::string which = what + (grouped ? " grouped" : " per pair") + (bad ? " with a bad index" : "");
    if (!bad) {
      auto got_act2 = download(dact2);
      const double e1 = test::max_row_relative_error(got_act2.data(), want_act.data(), std::int64_t(T) * K, I);
      CT_CHECK(e1 < 2e-5, "expert_mlp act " + which + ": error " + std::to_string(e1));
      const double e2 = test::max_row_relative_error(got2.data(), want.data(), T, H);
      CT_CHECK(e2 < 3e-5, "expert_mlp " + which + ": error " + std::to_string(e2));
      GPTOSS_CUDA_CHECK(cudaMemcpy(dres2.get(), residual.data(), residual.size() * sizeof(float), cudaMemcpyHostToDevice));
    } else {
      CT_CHECK(std::all_of(got2.begin(), got2.begin() + H, [](float v) { return std::isnan(v); }), "NaN row " + which);
      CT_CHECK(test::max_row_relative_error(got2.data() + H, want.data() + H, T - 1, H) < 3e-5, "other rows " + which);
    }
  }
}

}  // namespace

CT_CASE(expert_mlps_match_host) {
  // The tiny fixture's shape (H != I), the real shape, and wider-than-a-warp block counts.
  // From 32 tokens on the tiny shape runs grouped by expert; skewed routing makes groups of more
  // than one tile of inputs and empty ones; the real shape grouped at 128 tokens.
  for (MoECase c : {MoECase{160, 96, 8, 4, 1}, MoECase{160, 96, 8, 4, 7}, MoECase{2880, 2880, 32, 4, 1},
                    MoECase{2880, 2880, 128, 4, 3}, MoECase{1056, 64, 4, 2, 5}, MoECase{160, 96, 8, 4, 40},
                    MoECase{160, 96, 8, 4, 150, true}, MoECase{1056, 64, 4, 2, 67}, MoECase{2880, 2880, 32, 4, 128}})
    run_moe_case(c);
}

// Every E2M1 code at every finite E8M0 scale (bytes 0..254; 255 is NaN and refused when a
// checkpoint is checked), through the decode GEMV (MLP2's kernel, whose block product MLP1 shares)
// and through the tiles of the grouped path. Row j holds all 16 codes, twice, in its block j, under
// scale byte j; every other block of the row is code 0. The inputs of block j are (i + 1) * 2^e_j,
// with e_j bringing the row's scale towards 2^0, so that every output is a normal float of
// moderate size, exact in float32, and a wrong value for any one code or scale changes it. The
// expected outputs come from a table of E2M1 values and ldexp, not from the library's decoder.
// At scale bytes 253 and 254 the codes whose value times the scale exceeds FLT_MAX (the value is
// infinite on every path, the host's decode_row included) are replaced by code 0.
CT_CASE(mxfp4_decodes_every_code_and_scale) {
  static constexpr double e2m1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6};
  const int rows = 256, blocks = 256, cols = blocks * mxfp4::block_elems, E = 1, K = 1, T = 1;
  std::vector<std::uint8_t> q(std::size_t(rows) * cols / 2, 0), scales(std::size_t(rows) * blocks, 127);
  std::vector<float> x(static_cast<std::size_t>(cols));
  std::vector<double> want(static_cast<std::size_t>(rows));
  for (int j = 0; j < rows; ++j) {
    const int scale = j < 255 ? j : 127;  // the last row: scale 2^0 with the codes in another order
    const int e = std::clamp(127 - scale, -100, 100);
    scales[std::size_t(j) * blocks + j] = std::uint8_t(scale);
    double sum = 0;
    for (int i = 0; i < mxfp4::block_elems; ++i) {
      int code = j < 255 ? (i + j) % 16 : 15 - i % 16;
      if (std::ldexp(std::fabs(e2m1[code]), scale - 127) > double(FLT_MAX)) code = 0;
      std::uint8_t& byte = q[(std::size_t(j) * cols + std::size_t(j) * mxfp4::block_elems + i) / 2];
      byte = std::uint8_t(i % 2 ? byte | code << 4 : code);
      x[std::size_t(j) * mxfp4::block_elems + i] = std::ldexp(float(i + 1), e);
      sum += e2m1[code] * (i + 1);
    }
    want[std::size_t(j)] = std::ldexp(sum, scale - 127 + e);
    CT_CHECK(want[std::size_t(j)] != 0 && std::fabs(want[std::size_t(j)]) >= 0x1p-30 &&
                 std::fabs(want[std::size_t(j)]) <= 0x1p40,
             "the case's own construction, row " + std::to_string(j));
  }
  auto check = [&](const std::vector<float>& got, const char* path) {
    for (int j = 0; j < rows; ++j)
      CT_CHECK(std::isfinite(got[std::size_t(j)]) &&
                   std::fabs(got[std::size_t(j)] - want[std::size_t(j)]) <= 1e-6 * std::fabs(want[std::size_t(j)]),
               std::string(path) + " row " + std::to_string(j) + ": " + std::to_string(got[std::size_t(j)]) + " vs " +
                   std::to_string(want[std::size_t(j)]));
  };
  auto dq = upload(q), ds = upload(scales);
  auto dx = upload(x);
  auto dbias = upload(std::vector<bf16>(std::size_t(rows), bf16{0}));
  const Mxfp4Experts w{dq.get(), ds.get(), E, rows, cols};
  const Bf16Matrix bias{dbias.get(), E, rows};

  // The decode GEMV: x += 1.0 * (W . act + 0) for the one token's one expert.
  auto dchosen = upload(std::vector<int>{0});
  auto dweight = upload(std::vector<float>{1.0f});
  auto dout = upload(std::vector<float>(std::size_t(rows), 0.0f));
  gpu::expert_mlp2(dx.get(), rows, cols, T, dchosen.get(), dweight.get(), K, w, bias, dout.get(), nullptr);
  check(download(dout), "GEMV");

  // The tiles of the grouped path (one expert, one pair).
  using namespace gpu::detail;
  auto dgroups = upload(std::vector<int>{1, 0, 0});  // count, start, pairs
  const ExpertGroups groups{dgroups.get(), dgroups.get() + 1, dgroups.get() + 2};
  auto dy = poisoned<float>(std::size_t(rows));
  tiled_matmul(Mxfp4Source{w}, ExpertInputs{dx.get(), cols, 1, groups}, ExpertOutput{dy.get(), rows, bias}, rows, cols,
               E, T, nullptr);
  check(download(dy), "tiles");
}

CT_CASE(argmax_matches_host) {
  for (int V : {1000, 201088})
    for (int rows : {1, 3}) {
      auto logits = random_floats(std::size_t(rows) * V);
      if (rows > 1) {
        // A tie (the lower index wins) and a NaN (never wins) in row 1.
        float* r1 = logits.data() + V;
        const float top = *std::max_element(r1, r1 + V) + 1.0f;
        r1[V - 5] = top, r1[17] = top, r1[3] = NAN;
      }
      std::vector<token_id> want(static_cast<std::size_t>(rows));
      for (int r = 0; r < rows; ++r) want[std::size_t(r)] = argmax(std::span<const float>(logits.data() + std::size_t(r) * V, std::size_t(V)));
      if (rows > 1) CT_CHECK(want[1] == 17, "host picks the first of equal maxima");
      auto dl = upload(logits);
      auto dout = poisoned<token_id>(std::size_t(rows));
      gpu::argmax(dl.get(), rows, V, dout.get(), nullptr);
      CT_CHECK(download(dout) == want, "V=" + std::to_string(V) + " rows=" + std::to_string(rows));
    }
}

CT_CASE(launch_errors_become_gptoss_errors) {
  // A launch with an impossible configuration must throw a cuda_error naming the kernel.
  bool threw = false;
  try {
    gpu::rms_norm(nullptr, nullptr, std::int64_t(1) << 40, nullptr, 32, nullptr, nullptr);
  } catch (const cuda_error& e) {
    threw = std::string(e.what()).find("rms_norm_kernel") != std::string::npos;
  }
  CT_CHECK(threw, "rms_norm launch with 2^40 blocks");
}

CT_MAIN()
