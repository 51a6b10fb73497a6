// The key/value cache of one sequence in device memory, float32 like the host's, keys after RoPE.
// Full-attention layers hold `capacity` slots; sliding layers a ring of min(sliding_window,
// capacity) slots (position p in slot p % slots). One allocation per sequence, layer by layer:
// [layer][k slots | v slots][kv_width].
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "gptoss/config/model_config.hpp"
#include "gptoss/config/sequence_limits.hpp"
#include "gptoss/core/error.hpp"
#include "gptoss/core/hd.hpp"
#include "gptoss/cuda/memory.cuh"

namespace gptoss {
namespace gpu {

// Where each layer's keys and values lie inside one sequence's allocation; the same arithmetic on
// the host (allocation, tests) and in the attention kernels.
struct KvLayout {
  int layers = 0, window = 0, kv_width = 0;

  static KvLayout of(const ModelConfig& c) { return {c.num_hidden_layers, c.sliding_window, c.kv_width()}; }

  // Layer l slides when l is even (spec pitfall 2), as ModelConfig::is_sliding says.
  GPTOSS_HD static bool sliding(int layer) { return layer % 2 == 0; }
  GPTOSS_HD std::int64_t slots(int layer, std::int64_t capacity) const {
    return sliding(layer) ? (capacity < window ? capacity : window) : capacity;
  }
  // Floats before layer l's keys.
  GPTOSS_HD std::int64_t layer_offset(int layer, std::int64_t capacity) const {
    const std::int64_t ring = capacity < window ? capacity : window;
    const std::int64_t sliding_before = (layer + 1) / 2, full_before = layer / 2;
    return 2 * std::int64_t(kv_width) * (sliding_before * ring + full_before * capacity);
  }
  GPTOSS_HD std::int64_t total_floats(std::int64_t capacity) const { return layer_offset(layers, capacity); }
  GPTOSS_HD std::int64_t slot(int layer, std::int64_t pos, std::int64_t capacity) const {
    return sliding(layer) ? pos % slots(layer, capacity) : pos;
  }
  GPTOSS_HD float* key(float* base, int layer, std::int64_t pos, std::int64_t capacity) const {
    return base + layer_offset(layer, capacity) + slot(layer, pos, capacity) * kv_width;
  }
  GPTOSS_HD float* value(float* base, int layer, std::int64_t pos, std::int64_t capacity) const {
    return key(base, layer, pos, capacity) + slots(layer, capacity) * kv_width;
  }
};

}  // namespace gpu

// One sequence of a Transformer<Config, cuda>: its KV cache on the device and its length.
class CudaKvCache {
 public:
  CudaKvCache(const ModelConfig& c, std::int64_t capacity) : layout_(gpu::KvLayout::of(c)), capacity_(capacity) {
    check_capacity(c, capacity);
    const std::size_t need = bytes_for(c, capacity);
    const auto mem = gpu::memory_info();
    if (need > mem.free)
      throw cuda_error("the KV cache of a " + std::to_string(capacity) + "-token sequence needs " +
                       std::to_string(gpu::gib(need)) + " GiB of device memory but only " +
                       std::to_string(gpu::gib(mem.free)) + " GiB are free: ask for a shorter context");
    buf_ = gpu::DeviceBuffer<float>(std::size_t(layout_.total_floats(capacity)));
  }

  // Device bytes a sequence of `capacity` tokens takes.
  static std::size_t bytes_for(const ModelConfig& c, std::int64_t capacity) {
    return std::size_t(gpu::KvLayout::of(c).total_floats(capacity)) * sizeof(float);
  }

  std::int64_t length() const { return length_; }
  std::int64_t capacity() const { return capacity_; }
  std::int64_t bytes() const { return std::int64_t(buf_.bytes()); }
  float* data() const { return buf_.get(); }
  const gpu::KvLayout& layout() const { return layout_; }

  void check_room(std::int64_t n) const { check_kv_room(length_, capacity_, n); }
  void advance(std::int64_t n) { length_ += n; }
  void clear() { length_ = 0; }

 private:
  gpu::KvLayout layout_;
  std::int64_t capacity_;
  std::int64_t length_ = 0;
  gpu::DeviceBuffer<float> buf_;
};

}  // namespace gptoss
