// Host kernels: the dense products of the model. Weights are widened (bf16) or decoded (MXFP4)
// to float32 one tile of rows at a time, in a per-worker buffer, then multiplied in float32:
// a dot product per row for one token, an Eigen matrix product for many.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "gptoss/core/tensor.hpp"
#include "gptoss/host/thread_pool.hpp"

namespace gptoss::host_detail {

// Float32 dot product with 16 independent partial sums, which the compiler keeps in SIMD registers.
inline float dot(const float* a, const float* b, int n) {
  constexpr int lanes = 16;
  float acc[lanes] = {};
  int i = 0;
  for (; i + lanes <= n; i += lanes)
    for (int k = 0; k < lanes; ++k) acc[k] += a[i + k] * b[i + k];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  for (int w = lanes / 2; w > 0; w /= 2)
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0] + tail;
}

inline void widen_row(const bf16* in, int n, float* out) {
  for (int i = 0; i < n; ++i) out[i] = to_float(in[i]);
}

// Row sources: a weight matrix seen as rows that can be expanded to float32.
struct Bf16Rows {
  Bf16Matrix m;
  int rows() const { return m.rows; }
  int cols() const { return m.cols; }
  void expand(std::int64_t r, float* out) const { widen_row(m.row(r), m.cols, out); }
};

struct Mxfp4Rows {
  Mxfp4Matrix m;
  int rows() const { return m.rows; }
  int cols() const { return m.cols; }
  void expand(std::int64_t r, float* out) const { mxfp4::decode_row(m.row_blocks(r), m.row_scales(r), m.cols, out); }
};

// Per-worker scratch memory, grown on first use and then reused.
class Scratch {
 public:
  float* get(int worker, std::size_t n) {
    if (buffers_.size() <= std::size_t(worker)) buffers_.resize(worker + 1);
    auto& b = buffers_[worker];
    if (b.size() < n) b.resize(n);
    return b.data();
  }
  void reserve_workers(int n) { if (buffers_.size() < std::size_t(n)) buffers_.resize(n); }

 private:
  std::vector<std::vector<float>> buffers_;
};

// y[t, r] = sum_j W[r, j] x[t, j] + bias[r] for t in [0, tokens), with x and y row-major with the
// given strides. Rows are split across the pool's workers; each row's sum is computed by one
// worker in a fixed order, so results do not depend on the number of threads.
template <class Rows>
void matmul(const Rows& w, const Bf16Vector* bias, const float* x, std::int64_t x_stride, int tokens, float* y,
            std::int64_t y_stride, ThreadPool& pool, Scratch& scratch) {
  const int cols = w.cols();
  const int tile = tokens == 1 ? 8 : 64;
  scratch.reserve_workers(pool.size());
  pool.parallel_for(
      w.rows(),
      [&](std::int64_t begin, std::int64_t end, int worker) {
        float* buf = scratch.get(worker, std::size_t(tile) * cols);
        for (std::int64_t r0 = begin; r0 < end; r0 += tile) {
          const int n = int(std::min<std::int64_t>(tile, end - r0));
          for (int i = 0; i < n; ++i) w.expand(r0 + i, buf + std::int64_t(i) * cols);
          if (tokens == 1) {
            for (int i = 0; i < n; ++i) y[r0 + i] = dot(buf + std::int64_t(i) * cols, x, cols);
          } else {
            using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
            Eigen::Map<const Mat> W(buf, n, cols);
            Eigen::Map<const Mat, 0, Eigen::OuterStride<>> X(x, tokens, cols, Eigen::OuterStride<>(x_stride));
            Eigen::Map<Mat, 0, Eigen::OuterStride<>> Y(y + r0, tokens, n, Eigen::OuterStride<>(y_stride));
            Y.noalias() = X * W.transpose();
          }
          if (bias)
            for (int t = 0; t < tokens; ++t)
              for (int i = 0; i < n; ++i) y[t * y_stride + r0 + i] += (*bias)[int(r0 + i)];
        }
      },
      tokens == 1 ? 8 : 64);
}

}  // namespace gptoss::host_detail
