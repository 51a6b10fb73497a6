// Host kernels: the dense products of the model, dispatched at run time to the best instruction
// set the CPU has (cpu_features.hpp). For one token (decoding) each weight row is read once,
// straight from the checkpoint, and decoded in registers; for many tokens (prefill) a tile of rows
// is widened or decoded to float32 once and multiplied with every token of the call. Both give
// each product of a row and a token bit for bit the same float (simd_scalar.hpp), so a token's
// outputs do not depend on the other tokens of its call.
//
// Each Precision has its own tables: exact (float32 activations), and bf16, whose activations are
// rounded to bf16 by the arrange functions, then multiplied by vdpbf16ps where the CPU has
// AVX512-BF16 and by the precision's float32 kernels otherwise (simd_scalar.hpp, rounded_to_bf16).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "gptoss/config/precision.hpp"
#include "gptoss/core/huge_page_allocator.hpp"
#include "gptoss/core/tensor.hpp"
#include "gptoss/host/cpu_features.hpp"
#include "gptoss/host/detail/simd_avx2.hpp"
#include "gptoss/host/detail/simd_avx512.hpp"
#include "gptoss/host/detail/simd_avx512bf16.hpp"
#include "gptoss/host/detail/simd_neon.hpp"
#include "gptoss/host/detail/simd_scalar.hpp"
#include "gptoss/host/thread_pool.hpp"

namespace gptoss::host {

// The prefill tiles' layout is part of each table's contract (host/detail/simd_scalar.hpp).
using detail::TileLayout;
using detail::tile_offset;
using detail::tile_rows;

// One instruction set's implementations; the contracts are in simd_scalar.hpp.
struct Kernels {
  Isa isa;
  decltype(&detail::copy_input) arrange_bf16;   // the activations as gemv_bf16 reads them
  decltype(&detail::copy_input) arrange_mxfp4;  // the activations as gemv_mxfp4 reads them
  decltype(&detail::scalar::gemv_bf16) gemv_bf16;
  decltype(&detail::scalar::gemv_mxfp4) gemv_mxfp4;
  decltype(&detail::scalar::widen_bf16) widen_bf16;
  // The prefill tiles that expand_* write and gemm_rows reads; with no gemm_rows (null), matmul
  // multiplies many tokens with the GEMVs, token by token, a tile of rows at a time.
  TileLayout bf16_tiles, mxfp4_tiles;
  int tile_cols;   // the most columns in one tile (a multiple of 32)
  int gemm_state;  // floats of running sum per output between column ranges
  decltype(&detail::widen_tile<detail::scalar::widen_bf16>) expand_bf16;
  // The tile of rows x cols MXFP4 weights (cols a multiple of 32) whose rows start row_stride
  // values apart, in the instruction set's layout.
  void (*expand_mxfp4)(const std::uint8_t* blocks, const std::uint8_t* scales, std::int64_t row_stride, int rows,
                       int cols, float* tile);
  // y[t, r] = sum_k W[r, k] x[t, k] for t < tokens, r < rows, with W a tile of one column range
  // and x that range of each token's arranged activations: the sums start at zero when `first`,
  // else from `state`, and are written to y when `last`, else to `state` ([tokens][tile_rows]
  // [gemm_state] floats). Each sum is the float the GEMV computes for that row and token.
  void (*gemm_rows)(const float* tile, int rows, int cols, const float* x, std::int64_t x_stride, int tokens,
                    float* state, bool first, bool last, float* y, std::int64_t y_stride);
  decltype(&detail::scalar::scores) scores;
  decltype(&detail::scalar::accumulate) accumulate;
  decltype(&detail::scalar::exp_shifted) exp_shifted;
  // Column k of arranged activations is float k >> x_shift of them (1: two bf16 values a float).
  int x_shift = 0;
  Precision precision = Precision::exact;
  bool bf16_products = false;  // multiplies with vdpbf16ps (AVX512-BF16)
};

// The kernels of `isa`, or of the best compiled-in level below it.
inline const Kernels& kernels_for(Isa isa) {
  static const Kernels scalar_k{Isa::scalar,
                                detail::copy_input,
                                detail::copy_input,
                                detail::scalar::gemv_bf16,
                                detail::scalar::gemv_mxfp4,
                                detail::scalar::widen_bf16,
                                TileLayout::row_major,
                                TileLayout::row_major,
                                0,
                                0,
                                nullptr,
                                nullptr,
                                nullptr,  // no tiles: many tokens go through the GEMVs (simd_scalar.hpp)
                                detail::scalar::scores,
                                detail::scalar::accumulate,
                                detail::scalar::exp_shifted};
  // The GEMVs without tiles of their own, like the scalar ones.
  auto gemv_only = [](Isa isa, auto arrange_bf16, auto arrange_mxfp4, auto gemv_bf16, auto gemv_mxfp4, auto widen) {
    Kernels k = scalar_k;
    k.isa = isa, k.arrange_bf16 = arrange_bf16, k.arrange_mxfp4 = arrange_mxfp4;
    k.gemv_bf16 = gemv_bf16, k.gemv_mxfp4 = gemv_mxfp4, k.widen_bf16 = widen;
    return k;
  };
  (void)gemv_only;
#if defined(GPTOSS_HAVE_AVX2_KERNELS)
  // AVX2's column-major tiles sum each product in another order than its GEMVs: many tokens go
  // through the GEMVs.
  static const Kernels avx2_k = [&] {
    namespace avx2 = detail::avx2;
    Kernels k = gemv_only(Isa::avx2, avx2::arrange_bf16, avx2::arrange_mxfp4, avx2::gemv_bf16, avx2::gemv_mxfp4,
                          avx2::widen_bf16);
    k.scores = avx2::scores, k.accumulate = avx2::accumulate, k.exp_shifted = avx2::exp_shifted;
    return k;
  }();
  if (isa == Isa::avx2) return avx2_k;
#endif
#if defined(GPTOSS_HAVE_AVX512_KERNELS)
  static const Kernels avx512_k{Isa::avx512,
                                detail::copy_input,
                                detail::split_pairs,
                                detail::avx512::gemv_bf16,
                                detail::avx512::gemv_mxfp4,
                                detail::avx512::widen_bf16,
                                TileLayout::row_major,
                                TileLayout::row_major_split,
                                detail::avx512::tile_cols,
                                detail::avx512::gemm_state,
                                detail::widen_tile<detail::avx512::widen_bf16>,
                                detail::avx512::expand_mxfp4,
                                detail::avx512::gemm_rows,
                                detail::avx512::scores,
                                detail::avx512::accumulate,
                                detail::avx512::exp_shifted};
  if (isa == Isa::avx512) return avx512_k;
#endif
#if defined(GPTOSS_HAVE_NEON_KERNELS)
  // The GEMVs in NEON, for many tokens too; the attention entries stay the scalar ones (no NEON
  // versions yet).
  static const Kernels neon_k =
      gemv_only(Isa::neon, detail::copy_input, detail::split_pairs, detail::neon::gemv_bf16,
                detail::neon::gemv_mxfp4, detail::neon::widen_bf16);
  if (isa == Isa::neon) return neon_k;
#endif
  return scalar_k;
}

// Precision::bf16 on `isa` without a native bf16 product: its kernels, fed activations rounded to
// bf16.
inline Kernels bf16_rounding(const Kernels& exact) {
  Kernels k = exact;
  k.precision = Precision::bf16;
  auto rounded = [](auto arrange) -> decltype(&detail::copy_input) {
    if (arrange == detail::copy_input) return detail::rounded_to_bf16<detail::copy_input>;
    if (arrange == detail::split_pairs) return detail::rounded_to_bf16<detail::split_pairs>;
#if defined(GPTOSS_HAVE_AVX2_KERNELS)
    if (arrange == detail::avx2::arrange_bf16) return detail::rounded_to_bf16<detail::avx2::arrange_bf16>;
    if (arrange == detail::avx2::arrange_mxfp4) return detail::rounded_to_bf16<detail::avx2::arrange_mxfp4>;
#endif
    return nullptr;  // unreachable: every table's arrange functions are listed above
  };
  k.arrange_bf16 = rounded(exact.arrange_bf16), k.arrange_mxfp4 = rounded(exact.arrange_mxfp4);
  return k;
}

// The kernels of `isa` (or the best compiled-in level below it) in `precision`; with native
// (bf16 only) the vdpbf16ps kernels where they are compiled in and `isa` is avx512.
inline const Kernels& kernels_for(Isa isa, Precision precision, bool native = true) {
  if (precision == Precision::exact) return kernels_for(isa);
#if defined(GPTOSS_HAVE_AVX512BF16_KERNELS)
  static const Kernels native_k = [] {
    Kernels k = kernels_for(Isa::avx512);
    k.precision = Precision::bf16;
    k.arrange_bf16 = k.arrange_mxfp4 = detail::avx512bf16::pack_bf16;
    k.gemv_bf16 = detail::avx512bf16::gemv_bf16, k.gemv_mxfp4 = detail::avx512bf16::gemv_mxfp4;
    k.tile_cols = detail::avx512bf16::tile_cols, k.gemm_state = detail::avx512bf16::gemm_state;
    k.expand_bf16 = detail::avx512bf16::expand_bf16, k.expand_mxfp4 = detail::avx512bf16::expand_mxfp4;
    k.gemm_rows = detail::avx512bf16::gemm_rows;
    k.x_shift = 1, k.bf16_products = true;
    return k;
  }();
  if (native && kernels_for(isa).isa == Isa::avx512) return native_k;
#else
  (void)native;
#endif
  static const Kernels scalar_k = bf16_rounding(kernels_for(Isa::scalar));
  static const Kernels avx2_k = bf16_rounding(kernels_for(Isa::avx2));
  static const Kernels avx512_k = bf16_rounding(kernels_for(Isa::avx512));
  static const Kernels neon_k = bf16_rounding(kernels_for(Isa::neon));
  switch (kernels_for(isa).isa) {
    case Isa::avx2: return avx2_k;
    case Isa::avx512: return avx512_k;
    case Isa::neon: return neon_k;
    default: return scalar_k;
  }
}

// Whether the CPU multiplies bf16 natively (vdpbf16ps) and this build has those kernels.
inline bool native_bf16() {
#if defined(GPTOSS_HAVE_AVX512BF16_KERNELS)
  return cpu_features().avx512bf16;
#else
  return false;
#endif
}

inline const Kernels& kernels() {
  static const Kernels& k = kernels_for(active_isa());
  return k;
}

// The kernels this CPU runs in `precision`.
inline const Kernels& kernels(Precision precision) {
  return kernels_for(active_isa(), precision, native_bf16());
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
// Up to this many tokens a product runs as one GEMV per token over rows kept warm in the cache:
// expanding tiles costs more than it saves for so few (one MXFP4 expert on one thread, 2 tokens:
// 1.97 ms as GEMVs, 3.25 ms as tiles; 4 tokens: even; 8: tiles 1.6x faster; bench_kernels'
// BM_few_tokens_mxfp4). Both give the same floats, so the choice keeps batch invariance.
inline constexpr int gemv_max_tokens = 4;

// y[t, r] = sum_j W[r, j] x[t, j] + bias[r] for t in [0, tokens), with x and y row-major with the
// given strides, with the kernels of the CPU or those given. Rows are split across the pool's
// workers. Each output is computed by one worker in an order fixed by the kernels alone, the same
// for one token (the GEMV) as for many (the tiles), so results depend neither on the number of
// threads nor on the other tokens of the call.
template <class Rows>
void matmul(const Rows& w, const Bf16Vector* bias, const float* x, std::int64_t x_stride, int tokens, float* y,
            std::int64_t y_stride, ThreadPool& pool, Scratch& scratch, const Kernels& k = kernels()) {
  const int cols = w.cols();
  auto add_bias = [&](std::int64_t r0, std::int64_t n) {
    if (!bias) return;
    for (int t = 0; t < tokens; ++t)
      for (std::int64_t i = 0; i < n; ++i) y[t * y_stride + r0 + i] += (*bias)[int(r0 + i)];
  };
  // Every token's activations as the GEMV reads them.
  float* in = scratch.shared(std::size_t(tokens) * cols);
  for (int t = 0; t < tokens; ++t) w.arrange(k, x + t * x_stride, in + std::size_t(t) * cols);
  if (tokens <= gemv_max_tokens || !k.gemm_rows) {
    const int grain = tokens == 1 ? gemv_grain : tile_rows;
    pool.parallel_for(
        w.rows(),
        [&](std::int64_t begin, std::int64_t end, int) {
          for (std::int64_t r0 = begin; r0 < end; r0 += grain) {  // a tile of rows, warm for every token
            const std::int64_t n = std::min<std::int64_t>(grain, end - r0);
            for (int t = 0; t < tokens; ++t) w.gemv(k, r0, n, in + std::size_t(t) * cols, y + t * y_stride + r0);
            add_bias(r0, n);
          }
        },
        grain);
    return;
  }
  scratch.reserve_workers(pool.size());
  const int tile_cols = std::min(cols, k.tile_cols);
  pool.parallel_for(
      w.rows(),
      [&](std::int64_t begin, std::int64_t end, int worker) {
        const std::size_t tile_floats = std::size_t(tile_rows) * tile_cols;
        float* tile = scratch.get(worker, tile_floats + std::size_t(tokens) * tile_rows * k.gemm_state);
        float* state = tile + tile_floats;
        for (std::int64_t r0 = begin; r0 < end; r0 += tile_rows) {
          const int n = int(std::min<std::int64_t>(tile_rows, end - r0));
          for (int k0 = 0, kn; k0 < cols; k0 += kn) {
            kn = std::min(tile_cols, cols - k0);
            w.expand(k, r0, n, k0, kn, tile);
            k.gemm_rows(tile, n, kn, in + (k0 >> k.x_shift), cols, tokens, state, k0 == 0, k0 + kn == cols, y + r0, y_stride);
          }
          add_bias(r0, n);
        }
      },
      tile_rows);
}

}  // namespace gptoss::host
