// Host kernels: the dense products of the model, dispatched at run time to the best instruction
// set the CPU has (cpu_features.hpp). For one token (decoding) each weight row is read once,
// straight from the checkpoint, and decoded in registers; for many tokens (prefill) a tile of rows
// is widened or decoded to float32 once and multiplied with every token of the call.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "gptoss/core/huge_page_allocator.hpp"
#include "gptoss/core/tensor.hpp"
#include "gptoss/host/cpu_features.hpp"
#include "gptoss/host/simd_avx2.hpp"
#include "gptoss/host/simd_avx512.hpp"
#include "gptoss/host/simd_neon.hpp"
#include "gptoss/host/simd_scalar.hpp"
#include "gptoss/host/thread_pool.hpp"

namespace gptoss::host_detail {

// One instruction set's implementations; the contracts are in simd_scalar.hpp.
struct Kernels {
  Isa isa;
  decltype(&copy_input) arrange_bf16;   // the activations as gemv_bf16 reads them
  decltype(&copy_input) arrange_mxfp4;  // the activations as gemv_mxfp4 reads them
  decltype(&scalar::gemv_bf16) gemv_bf16;
  decltype(&scalar::gemv_mxfp4) gemv_mxfp4;
  decltype(&scalar::widen_bf16) widen_bf16;
  TileLayout tile_layout;  // of the prefill tiles that expand_* write and gemm_rows reads
  int tile_cols;           // the most columns in one tile
  decltype(&widen_tile<scalar::widen_bf16>) expand_bf16;
  decltype(&decode_tile<scalar::decode_mxfp4>) expand_mxfp4;
  decltype(&scalar::gemm_rows) gemm_rows;
  decltype(&scalar::scores) scores;
  decltype(&scalar::accumulate) accumulate;
  decltype(&scalar::exp_shifted) exp_shifted;
};

// The prefill tiles: row-major over whole rows, from an instruction set's widening and decoding,
// or column-major from its own expand functions.
#define GPTOSS_ROW_MAJOR_TILES(ns) \
  TileLayout::row_major, std::numeric_limits<int>::max(), widen_tile<ns::widen_bf16>, decode_tile<ns::decode_mxfp4>
#define GPTOSS_COLUMN_MAJOR_TILES(ns) TileLayout::column_major, ns::tile_cols, ns::expand_bf16, ns::expand_mxfp4
#define GPTOSS_KERNEL_TABLE(ns, isa, arrange_bf16, arrange_mxfp4, tiles, exp_shifted)                       \
  Kernels {                                                                                                \
    isa, arrange_bf16, arrange_mxfp4, ns::gemv_bf16, ns::gemv_mxfp4, ns::widen_bf16, tiles, ns::gemm_rows, \
        ns::scores, ns::accumulate, exp_shifted                                                            \
  }

// The kernels of `isa`, or of the best compiled-in level below it.
inline const Kernels& kernels_for(Isa isa) {
  static const Kernels scalar_k =
      GPTOSS_KERNEL_TABLE(scalar, Isa::scalar, copy_input, split_pairs, GPTOSS_ROW_MAJOR_TILES(scalar), scalar::exp_shifted);
#if defined(GPTOSS_HAVE_AVX2_KERNELS)
  static const Kernels avx2_k =
      GPTOSS_KERNEL_TABLE(avx2, Isa::avx2, avx2::arrange_bf16, avx2::arrange_mxfp4, GPTOSS_COLUMN_MAJOR_TILES(avx2),
                          avx2::exp_shifted);
  if (isa == Isa::avx2) return avx2_k;
#endif
#if defined(GPTOSS_HAVE_AVX512_KERNELS)
  static const Kernels avx512_k = GPTOSS_KERNEL_TABLE(avx512, Isa::avx512, copy_input, split_pairs,
                                                      GPTOSS_COLUMN_MAJOR_TILES(avx512), avx512::exp_shifted);
  if (isa == Isa::avx512) return avx512_k;
#endif
#if defined(GPTOSS_HAVE_NEON_KERNELS)
  // The products in NEON; the attention entries stay the scalar ones (no NEON versions yet).
  static const Kernels neon_k = [] {
    Kernels k = scalar_k;
    k.isa = Isa::neon;
    k.gemv_bf16 = neon::gemv_bf16, k.gemv_mxfp4 = neon::gemv_mxfp4, k.widen_bf16 = neon::widen_bf16;
    k.expand_bf16 = widen_tile<neon::widen_bf16>, k.expand_mxfp4 = decode_tile<neon::decode_mxfp4>;  // whole rows
    k.gemm_rows = neon::gemm_rows;
    return k;
  }();
  if (isa == Isa::neon) return neon_k;
#endif
  return scalar_k;
}
#undef GPTOSS_KERNEL_TABLE
#undef GPTOSS_ROW_MAJOR_TILES
#undef GPTOSS_COLUMN_MAJOR_TILES

inline const Kernels& kernels() {
  static const Kernels& k = kernels_for(active_isa());
  return k;
}

inline void widen_row(const bf16* in, int n, float* out) { kernels().widen_bf16(in, n, out); }

// Row sources: a weight matrix seen as rows that can be multiplied directly (one token, with the
// activations arranged for the kernel once per call) or expanded to float32 tiles (many tokens):
// rows [r, r + n) over columns [k0, k0 + kn). Rows of both kinds are contiguous, so a run of rows
// is one call.
struct Bf16Rows {
  Bf16Matrix m;
  int rows() const { return m.rows; }
  int cols() const { return m.cols; }
  void arrange(const Kernels& k, const float* x, float* out) const { k.arrange_bf16(x, m.cols, out); }
  void expand(const Kernels& k, std::int64_t r, int n, int k0, int kn, float* tile) const {
    k.expand_bf16(m.row(r) + k0, m.cols, n, kn, tile);
  }
  void gemv(const Kernels& k, std::int64_t r, std::int64_t n, const float* x, float* y) const {
    k.gemv_bf16(m.row(r), n, m.cols, x, y);  // x arranged
  }
};

struct Mxfp4Rows {
  Mxfp4Matrix m;
  int rows() const { return m.rows; }
  int cols() const { return m.cols; }
  void arrange(const Kernels& k, const float* x, float* out) const { k.arrange_mxfp4(x, m.cols, out); }
  void expand(const Kernels& k, std::int64_t r, int n, int k0, int kn, float* tile) const {
    const int b0 = k0 / mxfp4::block_elems;  // k0 is a multiple of tile_cols, itself one of 32
    k.expand_mxfp4(m.row_blocks(r) + b0 * mxfp4::block_bytes, m.row_scales(r) + b0, m.cols, n, kn, tile);
  }
  void gemv(const Kernels& k, std::int64_t r, std::int64_t n, const float* x, float* y) const {
    k.gemv_mxfp4(m.row_blocks(r), m.row_scales(r), n, m.cols, x, y);  // x arranged
  }
};

// Per-worker scratch memory, grown on first use and then reused, and one buffer shared by all
// workers (written before a parallel section, read inside it).
class Scratch {
 public:
  // One buffer per worker, made up front: workers call get() concurrently, so the set of
  // buffers must never grow while they run (only each worker's own buffer does).
  explicit Scratch(int workers = 0) { reserve_workers(workers); }
  float* get(int worker, std::size_t n) {
    auto& b = buffers_.at(std::size_t(worker));
    if (b.size() < n) b.resize(n);
    return b.data();
  }
  // Call only when no worker is running.
  void reserve_workers(int n) { if (buffers_.size() < std::size_t(n)) buffers_.resize(std::size_t(n)); }
  float* shared(std::size_t n) {
    if (shared_.size() < n) shared_.resize(n);
    return shared_.data();
  }

 private:
  // Cache-line aligned, as the column-major tiles' vector loads want.
  using Buffer = std::vector<float, HugePageAllocator<float>>;
  std::vector<Buffer> buffers_;
  Buffer shared_;
};

// Rows handed to a worker at a time for one token (whole groups of the kernels' 4 rows).
inline constexpr int gemv_grain = 16;

// y[t, r] = sum_j W[r, j] x[t, j] + bias[r] for t in [0, tokens), with x and y row-major with the
// given strides, with the kernels of the CPU or those given. Rows are split across the pool's
// workers; each row's sum is computed by one worker in a fixed order, so results do not depend on
// the number of threads.
template <class Rows>
void matmul(const Rows& w, const Bf16Vector* bias, const float* x, std::int64_t x_stride, int tokens, float* y,
            std::int64_t y_stride, ThreadPool& pool, Scratch& scratch, const Kernels& k = kernels()) {
  const int cols = w.cols();
  auto add_bias = [&](std::int64_t r0, std::int64_t n) {
    if (!bias) return;
    for (int t = 0; t < tokens; ++t)
      for (std::int64_t i = 0; i < n; ++i) y[t * y_stride + r0 + i] += (*bias)[int(r0 + i)];
  };
  if (tokens == 1) {
    float* in = scratch.shared(std::size_t(cols));
    w.arrange(k, x, in);
    pool.parallel_for(
        w.rows(),
        [&](std::int64_t begin, std::int64_t end, int) {
          w.gemv(k, begin, end - begin, in, y + begin);
          add_bias(begin, end - begin);
        },
        gemv_grain);
    return;
  }
  scratch.reserve_workers(pool.size());
  const int tile_cols = std::min(cols, k.tile_cols);
  pool.parallel_for(
      w.rows(),
      [&](std::int64_t begin, std::int64_t end, int worker) {
        float* tile = scratch.get(worker, std::size_t(tile_rows) * tile_cols);
        for (std::int64_t r0 = begin; r0 < end; r0 += tile_rows) {
          const int n = int(std::min<std::int64_t>(tile_rows, end - r0));
          for (int k0 = 0, kn; k0 < cols; k0 += kn) {
            kn = std::min(tile_cols, cols - k0);
            w.expand(k, r0, n, k0, kn, tile);
            k.gemm_rows(tile, n, kn, x + k0, x_stride, tokens, y + r0, y_stride, k0 > 0);
          }
          add_bias(r0, n);
        }
      },
      tile_rows);
}

}  // namespace gptoss::host_detail
