// What one forward call of the host backend works in: the thread pool, per-worker scratch, the
// activation buffers (grown on first use, then reused), where each token of the batch belongs,
// and an optional trace of intermediate values for tests and debugging.
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "gptoss/core/trace.hpp"
#include "gptoss/host/kernels.hpp"
#include "gptoss/host/thread_pool.hpp"
#include "gptoss/host/kv_cache.hpp"

namespace gptoss::ops {

// A run of consecutive tokens of the batch that extend one sequence: tokens [offset, offset +
// length) of the batch sit at positions cache->length() + i.
struct Segment {
  KvCache* cache;
  std::int64_t offset, length;
};

struct Workspace {
  explicit Workspace(host::ThreadPool& p, Precision precision = Precision::exact)
      : pool(p), scratch(p.size()), kernels(host::kernels(precision)) {}

  host::ThreadPool& pool;
  host::Scratch scratch;
  const host::Kernels& kernels;  // the dense products' kernels, in the run's precision
  const Trace* tracer = nullptr;

  std::int64_t tokens = 0;
  std::vector<std::int64_t> position;  // per token of the batch
  std::vector<int> segment_of;         // per token: index into the segments

  std::vector<float> x, x_norm, delta, q, k, v, o, k_heads, v_heads;
  std::vector<float> router, h1, act, expert_out;
  std::vector<float> gathered;
  std::vector<float> sinks, partial;
  std::vector<std::int64_t> item_first;
  std::vector<int> chosen;
  std::vector<float> route_weight;
  std::vector<std::int64_t> order, expert_first, expert_fill;

  static float* buffer(std::vector<float>& b, std::int64_t n) { return buffer_vector(b, n).data(); }
  template <class T>
  static std::vector<T>& buffer_vector(std::vector<T>& b, std::int64_t n) {
    if (b.size() < std::size_t(n)) b.resize(std::size_t(n));
    return b;
  }
  void trace(std::string_view name, int layer, const float* data, std::int64_t rows, std::int64_t cols) const {
    if (tracer && *tracer) (*tracer)(name, layer, data, rows, cols);
  }
};

}  // namespace gptoss::ops
