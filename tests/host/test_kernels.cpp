// Every SIMD kernel against the scalar reference (simd_scalar.hpp) on random inputs of awkward
// sizes, once per instruction set of the architecture (an instruction set this CPU lacks is
// reported as skipped, with the reason); outputs are poisoned with NaN first so a value a kernel
// forgot to write cannot pass, and writes outside the output are caught the same way.
#define BOOST_TEST_MODULE host_kernels
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gptoss/host/kernels.hpp"
#include "gptoss/ops/attention.hpp"
#include "gptoss/ops/rms_norm.hpp"

using namespace gptoss;
using namespace gptoss::host;
using namespace gptoss::host::detail;  // the kernels under test, and their scalar references

namespace {

const float nan_value = std::numeric_limits<float>::quiet_NaN();

// The instruction sets to test: every one above scalar that is compiled in and that the CPU has.
std::vector<Isa> fast_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::avx2, Isa::avx512, Isa::neon})
    if (cpu_features().supports(isa) && kernels_for(isa).isa == isa) out.push_back(isa);
  return out;
}

struct Random {
  std::mt19937 rng{12345};
  std::vector<float> floats(std::size_t n) {
    std::normal_distribution<float> d;
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
  }
  std::vector<bf16> bf16s(std::size_t n) {
    std::vector<bf16> v(n);
    for (auto& x : v) x = to_bf16(std::normal_distribution<float>()(rng));
    return v;
  }
  std::vector<std::uint8_t> bytes(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = std::uint8_t(rng());
    return v;
  }
  // Scale bytes around 2^0, with the subnormal byte 0 and extreme exponents mixed in.
  std::vector<std::uint8_t> scales(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) {
      const unsigned r = rng() % 20;
      b = r == 0 ? 0 : r == 1 ? 160 : r == 2 ? 90 : std::uint8_t(120 + rng() % 12);
    }
    return v;
  }
};

// A random linear layer of rows x cols in both row kinds, bf16 and MXFP4 (with the MXFP4 weights
// decoded, for the definitions), and a bf16 bias.
struct RandomLinear {
  int rows, cols;
  std::vector<bf16> wb, bias;
  std::vector<std::uint8_t> q, s;
  std::vector<float> wq;
  RandomLinear(Random& rnd, int rows, int cols)
      : rows(rows), cols(cols), wb(rnd.bf16s(std::size_t(rows) * cols)), bias(rnd.bf16s(std::size_t(rows))),
        q(rnd.bytes(std::size_t(rows) * cols / 2)), s(rnd.scales(std::size_t(rows) * cols / 32)),
        wq(std::size_t(rows) * cols) {
    mxfp4::decode_row(q.data(), s.data(), wq.size(), wq.data());
  }
  Bf16Vector b() const { return {bias.data(), rows}; }
  Bf16Rows bf16_rows() const { return Bf16Rows{Bf16Matrix{wb.data(), rows, cols}}; }
  Mxfp4Rows mxfp4_rows() const { return Mxfp4Rows{Mxfp4Matrix{q.data(), s.data(), rows, cols}}; }
  float bf16_weight(int r, int k) const { return to_float(wb[std::size_t(r) * cols + k]); }
  float mxfp4_weight(int r, int k) const { return wq[std::size_t(r) * cols + k]; }
};

// |got - want| <= tol * scale for each of n values, and none is NaN.
void check_close(const float* got, const float* want, const float* scale, std::size_t n, double tol) {
  for (std::size_t i = 0; i < n; ++i) {
    BOOST_REQUIRE_MESSAGE(std::isfinite(got[i]), "value " << i << " is " << got[i]);
    BOOST_REQUIRE_MESSAGE(std::fabs(got[i] - want[i]) <= tol * scale[i] + 1e-30,
                          "value " << i << ": " << got[i] << " vs reference " << want[i]);
  }
}

// Why this process cannot test `isa`, or "" if it can: the CPU lacks it, or this build did not
// compile its kernels.
std::string why_untestable(Isa isa) {
  if (!cpu_features().supports(isa)) return std::string("this CPU has no ") + isa_name(isa) + " (it has: " + cpu_features().describe() + ")";
  if (kernels_for(isa).isa != isa) return std::string("the ") + isa_name(isa) + " kernels are not compiled into this build";
  return "";
}

// A Boost.Test precondition: the case is skipped, with the reason, when `isa` cannot be tested here.
struct Testable {
  Isa isa;
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    const std::string why = why_untestable(isa);
    boost::test_tools::assertion_result ok(why.empty());
    ok.message() << why;
    return ok;
  }
};

}  // namespace

// SIMD_CASE(name) { ... isa ... } defines a comparison once and registers it for each SIMD
// instruction set of this architecture, as name_avx2 and name_avx512 (x86-64) or name_neon
// (aarch64), labelled with the set's name. A set that this CPU lacks is skipped by Boost.Test's
// precondition, which says why, instead of passing without a check; ctest runs each label apart
// (tests/host/CMakeLists.txt), so its summary shows such a run as skipped. SIMD_AND_SCALAR_CASE
// adds name_scalar, for comparisons the scalar kernels take part in too.
#define GPTOSS_ISA_CASE(name, set) \
  BOOST_AUTO_TEST_CASE(name##_##set, *boost::unit_test::label(#set) * boost::unit_test::precondition(Testable{Isa::set})) { name(Isa::set); }
#if defined(__x86_64__)
#define GPTOSS_SIMD_CASES(name) GPTOSS_ISA_CASE(name, avx2) GPTOSS_ISA_CASE(name, avx512)
#elif defined(__aarch64__)
#define GPTOSS_SIMD_CASES(name) GPTOSS_ISA_CASE(name, neon)
#else
#define GPTOSS_SIMD_CASES(name)
#endif
#define SIMD_CASE(name)          \
  static void name(Isa isa);     \
  GPTOSS_SIMD_CASES(name)        \
  static void name(Isa isa)
#define SIMD_AND_SCALAR_CASE(name)                         \
  static void name(Isa isa);                               \
  GPTOSS_SIMD_CASES(name)                                  \
  BOOST_AUTO_TEST_CASE(name##_scalar) { name(Isa::scalar); } \
  static void name(Isa isa)

// RMSNorm where eps dominates: activations of size 1e-3 make mean(x^2) about 1e-6, a tenth of the
// spec's eps = 1e-5 (spec 3.2, written here, not taken from the library), so a wrong or missing
// eps, or eps outside the square root, moves every output far past the tolerance.
BOOST_AUTO_TEST_CASE(rms_norm_epsilon_dominates_small_activations) {
  const double eps = 1e-5;
  const int n = 2880;
  std::vector<float> x(n), y(n, nan_value);
  std::vector<bf16> gain(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = 1e-3f * float(i % 7 - 3) / 2.0f;
    gain[i] = to_bf16(0.5f + float(i % 3));
    sum += double(x[i]) * x[i];
  }
  BOOST_REQUIRE(sum / n < eps / 5);  // eps is most of the denominator
  ops::rms_norm(x.data(), Bf16Vector{gain.data(), n}, y.data());
  const double inv = 1.0 / std::sqrt(sum / n + eps);
  for (int i = 0; i < n; ++i)
    BOOST_REQUIRE_MESSAGE(std::fabs(y[i] - x[i] * inv * to_float(gain[i])) <= 1e-6 * std::fabs(x[i] * inv * to_float(gain[i])) + 1e-12,
                          "value " << i << ": " << y[i] << " vs " << x[i] * inv * to_float(gain[i]));
  // And all zeros stay zeros (no division by zero without eps).
  std::fill(x.begin(), x.end(), 0.0f);
  ops::rms_norm(x.data(), Bf16Vector{gain.data(), n}, y.data());
  BOOST_TEST(std::all_of(y.begin(), y.end(), [](float v) { return v == 0.0f; }));
}

BOOST_AUTO_TEST_CASE(choose_isa_can_only_lower_the_cpu_level) {
  CpuFeatures f;
  f.avx2 = f.fma = true;
  BOOST_TEST((choose_isa(f, nullptr) == Isa::avx2));
  BOOST_TEST((choose_isa(f, "scalar") == Isa::scalar));
  BOOST_TEST((choose_isa(f, "avx512") == Isa::avx2));
  BOOST_TEST((choose_isa(f, "sse9") == Isa::avx2));
  f.avx512f = f.avx512bw = f.avx512vl = true;
  BOOST_TEST((choose_isa(f, nullptr) == Isa::avx512));
  BOOST_TEST((choose_isa(f, "avx2") == Isa::avx2));
  BOOST_TEST((choose_isa(f, "neon") == Isa::avx512));  // not an x86 level
  BOOST_TEST((kernels_for(Isa::scalar).isa == Isa::scalar));

  CpuFeatures arm;
  arm.neon = true;
  BOOST_TEST((choose_isa(arm, nullptr) == Isa::neon));
  BOOST_TEST((choose_isa(arm, "scalar") == Isa::scalar));
  BOOST_TEST((choose_isa(arm, "avx2") == Isa::neon));
  BOOST_TEST((choose_isa(arm, "avx512") == Isa::neon));
  BOOST_TEST(arm.describe() == "neon");
}

// The SIMD paths a build for this CPU must have, so that the comparisons below cannot pass by
// testing nothing.
BOOST_AUTO_TEST_CASE(this_cpu_has_its_simd_kernels) {
  const std::vector<Isa> isas = fast_isas();
  auto has = [&](Isa isa) { return std::find(isas.begin(), isas.end(), isa) != isas.end(); };
#if defined(__aarch64__)
  BOOST_TEST(cpu_features().neon);
  BOOST_TEST(has(Isa::neon));
  BOOST_TEST((active_isa() == Isa::neon || std::getenv("GPTOSS_ISA")));
#endif
#if defined(__x86_64__)
  if (cpu_features().supports(Isa::avx2)) BOOST_TEST(has(Isa::avx2));
  if (cpu_features().supports(Isa::avx512)) BOOST_TEST(has(Isa::avx512));
#endif
  BOOST_TEST((kernels_for(Isa::neon).isa == (has(Isa::neon) ? Isa::neon : Isa::scalar)));
}

SIMD_CASE(gemv_bf16_matches_scalar) {
  Random rnd;
  for (int rows : {1, 3, 4, 5, 13})
    for (int cols : {1, 7, 16, 31, 33, 100, 2880}) {
      BOOST_TEST_CONTEXT(isa_name(isa) << " rows " << rows << " cols " << cols) {
        auto w = rnd.bf16s(std::size_t(rows) * cols);
        auto x = rnd.floats(std::size_t(cols));
        std::vector<float> want(static_cast<std::size_t>(rows)), got(static_cast<std::size_t>(rows) + 1, nan_value), scale(static_cast<std::size_t>(rows));
        std::vector<float> xa(static_cast<std::size_t>(cols) + 1, nan_value);
        scalar::gemv_bf16(w.data(), rows, cols, x.data(), want.data());
        kernels_for(isa).arrange_bf16(x.data(), cols, xa.data());
        BOOST_TEST(std::isnan(xa[std::size_t(cols)]));
        kernels_for(isa).gemv_bf16(w.data(), rows, cols, xa.data(), got.data());
        for (int r = 0; r < rows; ++r)
          for (int k = 0; k < cols; ++k) scale[r] += std::fabs(to_float(w[std::size_t(r) * cols + k]) * x[k]);
        check_close(got.data(), want.data(), scale.data(), std::size_t(rows), 1e-5);
        BOOST_TEST(std::isnan(got[std::size_t(rows)]));  // nothing written past the output
      }
    }
}

SIMD_CASE(gemv_mxfp4_matches_scalar) {
  Random rnd;
  for (int rows : {1, 3, 5, 7, 9})
    for (int blocks : {1, 3, 16, 17, 90}) {
      const int cols = blocks * mxfp4::block_elems;
      BOOST_TEST_CONTEXT(isa_name(isa) << " rows " << rows << " cols " << cols) {
        auto q = rnd.bytes(std::size_t(rows) * cols / 2);
        auto s = rnd.scales(std::size_t(rows) * blocks);
        auto x = rnd.floats(std::size_t(cols));
        std::vector<float> w(static_cast<std::size_t>(rows) * cols), scale(static_cast<std::size_t>(rows));
        std::vector<float> xa(static_cast<std::size_t>(cols) + 1, nan_value);
        kernels_for(isa).arrange_mxfp4(x.data(), cols, xa.data());
        BOOST_TEST(std::isnan(xa[std::size_t(cols)]));
        std::vector<float> want(static_cast<std::size_t>(rows)), got(static_cast<std::size_t>(rows) + 1, nan_value);
        scalar::gemv_mxfp4(q.data(), s.data(), rows, cols, x.data(), want.data());
        kernels_for(isa).gemv_mxfp4(q.data(), s.data(), rows, cols, xa.data(), got.data());
        mxfp4::decode_row(q.data(), s.data(), std::size_t(rows) * cols, w.data());
        for (int r = 0; r < rows; ++r)
          for (int k = 0; k < cols; ++k) scale[r] += std::fabs(w[std::size_t(r) * cols + k] * x[k]);
        check_close(got.data(), want.data(), scale.data(), std::size_t(rows), 1e-5);
        BOOST_TEST(std::isnan(got[std::size_t(rows)]));
      }
    }
}

// Each instruction set's activation orders are permutations of the input: every value once.
SIMD_AND_SCALAR_CASE(arranged_activations_are_permutations) {
  for (int blocks : {1, 2, 3, 90}) {
    const int cols = blocks * mxfp4::block_elems;
    for (int n : {cols, cols - 7}) {
      std::vector<float> x(static_cast<std::size_t>(n)), got(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) x[i] = float(i);
      auto is_permutation = [&] {
        std::vector<float> sorted = got;
        std::sort(sorted.begin(), sorted.end());
        return sorted == x;
      };
      kernels_for(isa).arrange_bf16(x.data(), n, got.data());
      BOOST_TEST(is_permutation(), isa_name(isa) << " bf16 order, " << n << " values");
      if (n % mxfp4::block_elems) continue;
      kernels_for(isa).arrange_mxfp4(x.data(), n, got.data());
      BOOST_TEST(is_permutation(), isa_name(isa) << " MXFP4 order, " << n << " values");
    }
  }
}

BOOST_AUTO_TEST_CASE(the_scalar_mxfp4_gemv_is_the_decoded_product) {
  // The reference itself against decode_row and a plain dot product in double.
  Random rnd;
  const int rows = 3, cols = 96;
  auto q = rnd.bytes(rows * cols / 2);
  auto s = rnd.scales(rows * cols / 32);
  auto x = rnd.floats(cols);
  std::vector<float> w(rows * cols), y(rows, nan_value);
  scalar::gemv_mxfp4(q.data(), s.data(), rows, cols, x.data(), y.data());
  mxfp4::decode_row(q.data(), s.data(), rows * cols, w.data());
  for (int r = 0; r < rows; ++r) {
    double want = 0.0, scale = 0.0;
    for (int k = 0; k < cols; ++k) want += double(w[r * cols + k]) * x[k], scale += std::fabs(w[r * cols + k] * x[k]);
    BOOST_TEST(std::fabs(y[r] - want) <= 1e-5 * scale);
  }
}

SIMD_CASE(widening_is_exact) {
  Random rnd;
  for (int n : {1, 15, 17, 1003}) {
    auto w = rnd.bf16s(std::size_t(n));
    std::vector<float> got(static_cast<std::size_t>(n) + 1, nan_value);
    kernels_for(isa).widen_bf16(w.data(), n, got.data());
    for (int i = 0; i < n; ++i) BOOST_REQUIRE_EQUAL(got[i], to_float(w[i]));
    BOOST_TEST(std::isnan(got[std::size_t(n)]));
  }
}

namespace {

// Expanding a prefill tile in each instruction set's layout: every value bit for bit as
// to_float or decode_row gives it, and nothing written past tile_rows x cols.
void check_tile(const Kernels& k, TileLayout layout, const std::vector<float>& tile, const std::vector<float>& want,
                int rows, int cols) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const float got = tile[std::size_t(tile_offset(layout, cols, r, c))], w = want[std::size_t(r) * cols + c];
      BOOST_REQUIRE_MESSAGE(bits_of_float(got) == bits_of_float(w),
                            isa_name(k.isa) << " rows " << rows << " cols " << cols << " value (" << r << ", " << c
                                            << "): " << got << " vs " << w);
    }
  BOOST_TEST(std::isnan(tile[std::size_t(tile_rows) * cols]));
}


}  // namespace

// Tiles of whole rows and of a range of columns within wider rows (as matmul takes them).
SIMD_AND_SCALAR_CASE(expanding_tiles_is_exact) {
  if (!kernels_for(isa).gemm_rows) return;  // no tiles: many tokens go through the GEMVs
  Random rnd;
  for (int rows : {1, 5, 16, 17, 31, 32})
    for (int cols : {1, 15, 17, 100})
      for (int k0 : {0, 5}) {
        const int stride = cols + k0 + 3;
        auto w = rnd.bf16s(std::size_t(rows) * stride);
        std::vector<float> want(std::size_t(rows) * cols), tile(std::size_t(tile_rows) * cols + 1, nan_value);
        for (int r = 0; r < rows; ++r)
          for (int c = 0; c < cols; ++c) want[std::size_t(r) * cols + c] = to_float(w[std::size_t(r) * stride + k0 + c]);
        kernels_for(isa).expand_bf16(w.data() + k0, stride, rows, cols, tile.data());
        check_tile(kernels_for(isa), kernels_for(isa).bf16_tiles, tile, want, rows, cols);
      }
  for (int rows : {1, 5, 16, 17, 31, 32})
    for (int blocks : {1, 3, 17})
      for (int b0 : {0, 2}) {
        const int row_blocks = blocks + b0 + 1, cols = blocks * mxfp4::block_elems;
        auto q = rnd.bytes(std::size_t(rows) * row_blocks * mxfp4::block_bytes);
        auto s = rnd.scales(std::size_t(rows) * row_blocks);
        std::vector<float> all(std::size_t(rows) * row_blocks * mxfp4::block_elems), want(std::size_t(rows) * cols);
        std::vector<float> tile(std::size_t(tile_rows) * cols + 1, nan_value);
        mxfp4::decode_row(q.data(), s.data(), all.size(), all.data());
        for (int r = 0; r < rows; ++r)
          for (int c = 0; c < cols; ++c)
            want[std::size_t(r) * cols + c] = all[(std::size_t(r) * row_blocks + b0) * mxfp4::block_elems + c];
        kernels_for(isa).expand_mxfp4(q.data() + b0 * mxfp4::block_bytes, s.data() + b0,
                                      std::int64_t(row_blocks) * mxfp4::block_elems, rows, cols, tile.data());
        check_tile(kernels_for(isa), kernels_for(isa).mxfp4_tiles, tile, want, rows, cols);
      }
}

// Every byte (two codes) under every finite scale, bit for bit: the SIMD decoders' value tables,
// signed zeros and the subnormal scale 2^-127 included, as a tile of 24 rows of 85 blocks.
SIMD_AND_SCALAR_CASE(decoding_is_exact_for_every_byte_and_scale) {
  if (!kernels_for(isa).gemm_rows) return;
  const int blocks_per_scale = 256 / mxfp4::block_bytes, scales = 255;  // 255 is NaN, rejected on load
  const int rows = 24, cols = scales * blocks_per_scale / rows * mxfp4::block_elems;
  std::vector<std::uint8_t> q(std::size_t(scales) * 256), s(std::size_t(scales) * blocks_per_scale);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::uint8_t(i);
  for (std::size_t b = 0; b < s.size(); ++b) s[b] = std::uint8_t(b / blocks_per_scale);
  std::vector<float> want(std::size_t(rows) * cols);
  mxfp4::decode_row(q.data(), s.data(), want.size(), want.data());
  std::vector<float> tile(std::size_t(tile_rows) * cols + 1, nan_value);
  kernels_for(isa).expand_mxfp4(q.data(), s.data(), cols, rows, cols, tile.data());
  check_tile(kernels_for(isa), kernels_for(isa).mxfp4_tiles, tile, want, rows, cols);
}

// Batch invariance at the kernel level: every product of a row and a token that the tiles give
// (expand_* then gemm_rows over the row's column ranges, its sums kept in the state between them)
// is bit for bit the GEMV's for that token alone; nothing is written past the rows.
SIMD_AND_SCALAR_CASE(gemm_rows_is_the_gemv_bit_for_bit) {
  const Kernels& k = kernels_for(isa);
  if (!k.gemm_rows) return;
  Random rnd;
  for (int rows : {1, 3, 4, 5, 9, 16, 17, 31, 32})
    for (int cols : {32, 96, 160, 2880, 3008})
      for (int tokens : {1, 2, 3, 4, 5, 7, 13}) {
        BOOST_TEST_CONTEXT(isa_name(isa) << " rows " << rows << " cols " << cols << " tokens " << tokens) {
          const std::int64_t ys = rows + 2;  // wider than the data
          const int tile_cols = std::min(cols, k.tile_cols), blocks = cols / mxfp4::block_elems;
          auto wb = rnd.bf16s(std::size_t(rows) * cols);
          auto q = rnd.bytes(std::size_t(rows) * cols / 2);
          auto sc = rnd.scales(std::size_t(rows) * blocks);
          auto x = rnd.floats(std::size_t(tokens) * cols);
          std::vector<float> tile(std::size_t(tile_rows) * tile_cols), state(std::size_t(tokens) * tile_rows * k.gemm_state);
          for (bool is_bf16 : {true, false}) {
            std::vector<float> xa(x.size()), want(std::size_t(tokens * ys), nan_value), got(want);
            for (int t = 0; t < tokens; ++t) {
              float* xt = xa.data() + std::size_t(t) * cols;
              (is_bf16 ? k.arrange_bf16 : k.arrange_mxfp4)(x.data() + std::size_t(t) * cols, cols, xt);
              if (is_bf16) k.gemv_bf16(wb.data(), rows, cols, xt, want.data() + t * ys);
              else k.gemv_mxfp4(q.data(), sc.data(), rows, cols, xt, want.data() + t * ys);
            }
            for (int k0 = 0, kn; k0 < cols; k0 += kn) {
              kn = std::min(tile_cols, cols - k0);
              if (is_bf16) k.expand_bf16(wb.data() + k0, cols, rows, kn, tile.data());
              else k.expand_mxfp4(q.data() + k0 / 2, sc.data() + k0 / mxfp4::block_elems, cols, rows, kn, tile.data());
              k.gemm_rows(tile.data(), rows, kn, xa.data() + k0, cols, tokens, state.data(), k0 == 0, k0 + kn == cols,
                          got.data(), ys);
            }
            for (int t = 0; t < tokens; ++t)
              for (int r = 0; r < ys; ++r) {
                const std::size_t i = std::size_t(t * ys + r);
                if (r >= rows) BOOST_REQUIRE(std::isnan(got[i]));
                else
                  BOOST_REQUIRE_MESSAGE(bits_of_float(got[i]) == bits_of_float(want[i]),
                                        (is_bf16 ? "bf16" : "MXFP4") << " token " << t << " row " << r << ": "
                                                                     << got[i] << " vs the GEMV's " << want[i]);
              }
          }
        }
      }
}

// The token groups of the prefill tiles cover the tokens once, in order, at most T at a time and
// as even as they can be.
BOOST_AUTO_TEST_CASE(token_groups_are_even_and_cover_every_token) {
  for (int tokens = 0; tokens <= 100; ++tokens) {
    std::vector<std::pair<int, int>> groups;  // (first token, size)
    in_token_groups<12>(tokens, [&]<int T>(int t0) { groups.emplace_back(t0, T); });
    int next = 0, smallest = 12, largest = 0;
    for (auto [t0, n] : groups) {
      BOOST_REQUIRE_EQUAL(t0, next);
      BOOST_REQUIRE(n >= 1 && n <= 12);
      next += n, smallest = std::min(smallest, n), largest = std::max(largest, n);
    }
    BOOST_REQUIRE_EQUAL(next, tokens);
    BOOST_REQUIRE_EQUAL(int(groups.size()), (tokens + 11) / 12);
    if (!groups.empty()) BOOST_REQUIRE_LE(largest - smallest, 1);
  }
}

SIMD_CASE(attention_kernels_match_scalar) {
  Random rnd;
  for (int group : {1, 3, 8, 10, 11})
    for (int dim : {7, 20, 64, 80})
      for (int n : {1, 5, 17, 64}) {
        BOOST_TEST_CONTEXT(isa_name(isa) << " group " << group << " dim " << dim << " keys " << n) {
          const std::int64_t stride = dim + 5;
          const int s_stride = n + 3;
          auto q = rnd.floats(std::size_t(group * dim));
          auto k = rnd.floats(std::size_t(n * stride));
          // Scores: each against the sum of its products' magnitudes; untouched padding stays NaN.
          std::vector<float> want(std::size_t(group * s_stride), nan_value), got(want), scale(want.size());
          std::vector<float> max_want(static_cast<std::size_t>(group)), max_got(static_cast<std::size_t>(group) + 1, nan_value);
          scalar::scores(q.data(), group, dim, k.data(), stride, n, 0.25f, want.data(), s_stride, max_want.data());
          kernels_for(isa).scores(q.data(), group, dim, k.data(), stride, n, 0.25f, got.data(), s_stride, max_got.data());
          for (int i = 0; i < group; ++i) {
            float m = -INFINITY;
            for (int j = 0; j < n; ++j) {
              for (int d = 0; d < dim; ++d) scale[i * s_stride + j] += 0.25f * std::fabs(q[i * dim + d] * k[j * stride + d]);
              m = std::max(m, got[i * s_stride + j]);
            }
            BOOST_TEST(max_got[i] == m);  // the kernel's maximum is that of its own scores
            check_close(got.data() + i * s_stride, want.data() + i * s_stride, scale.data() + i * s_stride,
                        std::size_t(n), 1e-5);
            for (int j = n; j < s_stride; ++j) BOOST_TEST(std::isnan(got[i * s_stride + j]));
          }
          BOOST_TEST(std::isnan(max_got[std::size_t(group)]));

          // Values: acc_i * rescale_i + sum_j p_ij v_j, each head with its own rescale.
          auto p = rnd.floats(std::size_t(group * s_stride));
          auto acc0 = rnd.floats(std::size_t(group * dim));
          std::vector<float> rescale(static_cast<std::size_t>(group));
          for (int i = 0; i < group; ++i) rescale[i] = i % 2 ? 1.0f : 0.5f / float(i + 1);
          std::vector<float> acc_want(acc0), acc_got(acc0), ascale(acc0.size());
          acc_got.push_back(nan_value);
          scalar::accumulate(p.data(), s_stride, group, dim, k.data(), stride, n, rescale.data(), acc_want.data());
          kernels_for(isa).accumulate(p.data(), s_stride, group, dim, k.data(), stride, n, rescale.data(), acc_got.data());
          for (int i = 0; i < group; ++i)
            for (int d = 0; d < dim; ++d) {
              float& sc = ascale[i * dim + d];
              sc = rescale[i] * std::fabs(acc0[i * dim + d]);
              for (int j = 0; j < n; ++j) sc += std::fabs(p[i * s_stride + j] * k[j * stride + d]);
            }
          check_close(acc_got.data(), acc_want.data(), ascale.data(), acc0.size(), 1e-5);
          BOOST_TEST(std::isnan(acc_got[acc0.size()]));
        }
      }
}

SIMD_CASE(exp_shifted_matches_std_exp) {
  Random rnd;
  for (int n : {1, 15, 17, 64}) {
    std::vector<float> s(static_cast<std::size_t>(n) + 1, nan_value);
    for (int j = 0; j < n; ++j) s[j] = -std::fabs(rnd.floats(1)[0]) * (j % 3 == 0 ? 40.0f : 3.0f) + 2.0f;
    s[0] = 2.0f;                           // the shift itself: exp(0) = 1
    if (n > 5) s[5] = -200.0f;             // far below the float range: 0
    const std::vector<float> in = s;
    const float sum = kernels_for(isa).exp_shifted(s.data(), n, 2.0f);
    double want_sum = 0.0;
    for (int j = 0; j < n; ++j) {
      const double want = std::exp(double(in[j]) - 2.0);
      want_sum += want;
      BOOST_REQUIRE_MESSAGE(std::fabs(s[j] - want) <= 3e-7 * want + 1e-37,
                            isa_name(isa) << " exp(" << in[j] - 2.0f << ") = " << s[j] << ", not " << want);
    }
    BOOST_TEST(s[0] == 1.0f);
    BOOST_TEST(std::fabs(sum - want_sum) <= 1e-6 * want_sum);
    BOOST_TEST(std::isnan(s[std::size_t(n)]));
  }
}

// The blocked online softmax with sinks against the two-pass definition in double, over more
// keys than one block and with runs of uneven length.
SIMD_AND_SCALAR_CASE(group_attention_matches_two_pass_softmax_with_sink) {
  Random rnd;
  const int group = 3, dim = 16, keys = 150;
  auto q = rnd.floats(group * dim), k = rnd.floats(keys * dim), v = rnd.floats(keys * dim);
  for (auto& x : q) x *= 3.0f;  // peaked weights, so the running maximum changes often
  const std::vector<float> sinks = {0.5f, -1.0f, 4.0f};
  std::vector<float> scratch(ops::GroupAttention::scratch_floats(group, dim)), out(group * dim + 1, nan_value);
  ops::GroupAttention ga(group, dim, scratch.data());
  ga.start(sinks.data());
  for (int j = 0, n = 1; j < keys; j += n, n = n % 64 + 13)
    ga.add(kernels_for(isa), q.data(), k.data() + j * dim, v.data() + j * dim, dim, std::min(n, keys - j), 0.25f);
  ga.finish(out.data());
  for (int h = 0; h < group; ++h) {
    std::vector<double> s(keys);
    double m = sinks[h], z = 0.0;
    for (int j = 0; j < keys; ++j) {
      s[j] = 0.0;
      for (int d = 0; d < dim; ++d) s[j] += double(q[h * dim + d]) * k[j * dim + d];
      s[j] *= 0.25;
      m = std::max(m, s[j]);
    }
    z = std::exp(sinks[h] - m);
    for (int j = 0; j < keys; ++j) z += std::exp(s[j] - m);
    for (int d = 0; d < dim; ++d) {
      double want = 0.0;
      for (int j = 0; j < keys; ++j) want += std::exp(s[j] - m) / z * v[j * dim + d];
      BOOST_REQUIRE_MESSAGE(std::fabs(out[h * dim + d] - want) < 1e-5,
                            isa_name(isa) << " head " << h << " dim " << d << ": " << out[h * dim + d] << " vs " << want);
    }
  }
  BOOST_TEST(std::isnan(out[group * dim]));
}

// matmul with a thread pool, bias and both row kinds, one token (GEMV) and several (GEMM, with
// rows over several tiles and, at 608 columns, columns too), against the scalar definition: the
// same numbers whichever path and however many threads.
SIMD_AND_SCALAR_CASE(matmul_matches_the_definition_for_one_and_many_tokens) {
  for (int cols : {96, 608}) {
    Random rnd;
    const int rows = 37;
    const RandomLinear lin(rnd, rows, cols);
    const Bf16Vector b = lin.b();
    for (int threads : {1, 2, 3})
      for (int tokens : {1, 4, 13}) {
        ThreadPool pool(threads);
        Scratch scratch;
        auto x = rnd.floats(tokens * cols);
        auto check = [&](const auto& w, auto weight) {
          std::vector<float> y(tokens * rows, nan_value);
          matmul(w, &b, x.data(), cols, tokens, y.data(), rows, pool, scratch, kernels_for(isa));
          for (int t = 0; t < tokens; ++t)
            for (int r = 0; r < rows; ++r) {
              double want = b[r], scale = std::fabs(b[r]);
              for (int k = 0; k < cols; ++k) {
                want += double(weight(r, k)) * x[t * cols + k];
                scale += std::fabs(weight(r, k) * x[t * cols + k]);
              }
              BOOST_REQUIRE_MESSAGE(std::fabs(y[t * rows + r] - want) <= 1e-5 * scale,
                                    isa_name(isa) << " threads " << threads << " tokens " << tokens << " row " << r
                                                  << ": " << y[t * rows + r]);
            }
        };
        check(lin.bf16_rows(), [&](int r, int k) { return lin.bf16_weight(r, k); });
        check(lin.mxfp4_rows(), [&](int r, int k) { return lin.mxfp4_weight(r, k); });
      }
  }
}

// A token's outputs of matmul are bit for bit the same alone (the GEMV) as among others of any
// number (the tiles, or the GEMV token by token), with any number of threads.
SIMD_AND_SCALAR_CASE(matmul_rows_do_not_depend_on_the_other_tokens) {
  for (int cols : {96, 608, 2880}) {
    Random rnd;
    const int rows = 45;
    const RandomLinear lin(rnd, rows, cols);
    const Bf16Vector b = lin.b();
    const int most = 13;
    auto x = rnd.floats(most * cols);
    auto check = [&](const auto& w) {
      // Each token alone, one thread.
      ThreadPool one(1);
      Scratch scratch;
      std::vector<float> alone(std::size_t(most) * rows);
      for (int t = 0; t < most; ++t)
        matmul(w, &b, x.data() + t * cols, cols, 1, alone.data() + t * rows, rows, one, scratch, kernels_for(isa));
      for (int threads : {1, 3})
        for (int tokens : {2, 3, 4, 7, 13}) {
          ThreadPool pool(threads);
          std::vector<float> y(std::size_t(tokens) * rows, nan_value);
          matmul(w, &b, x.data(), cols, tokens, y.data(), rows, pool, scratch, kernels_for(isa));
          BOOST_REQUIRE_MESSAGE(std::memcmp(y.data(), alone.data(), y.size() * sizeof(float)) == 0,
                                isa_name(isa) << " cols " << cols << " threads " << threads << " tokens " << tokens
                                              << ": rows differ from those of each token alone");
        }
    };
    check(lin.bf16_rows());
    check(lin.mxfp4_rows());
  }
}

// Precision::bf16: each instruction set's kernels fed bf16-rounded activations (bf16_rounding,
// kernels.hpp), and the AVX512-BF16 kernels (vdpbf16ps), against the scalar GEMVs on the
// activations rounded to bf16: the same products, float32 sums in another order.
namespace {

std::vector<float> rounded(std::vector<float> x) {
  for (float& v : x) v = to_float(to_bf16(v));
  return x;
}

// Why the AVX512-BF16 kernels cannot be tested here, or "".
std::string why_no_native_bf16() {
  if (!cpu_features().avx512bf16) return "this CPU has no avx512bf16 (it has: " + cpu_features().describe() + ")";
  if (!why_untestable(Isa::avx512).empty()) return why_untestable(Isa::avx512);
  if (!kernels_for(Isa::avx512, Precision::bf16).bf16_products) return "the avx512bf16 kernels are not compiled into this build";
  return "";
}
struct NativeBf16Testable {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    const std::string why = why_no_native_bf16();
    boost::test_tools::assertion_result ok(why.empty());
    ok.message() << why;
    return ok;
  }
};

void bf16_gemvs_match_scalar(const Kernels& k, const char* what) {
  Random rnd;
  for (int rows : {1, 3, 5, 13})
    for (int cols : {1, 7, 31, 33, 63, 65, 100, 2880}) {
      BOOST_TEST_CONTEXT(what << " bf16 rows " << rows << " cols " << cols) {
        auto w = rnd.bf16s(std::size_t(rows) * cols);
        auto x = rnd.floats(std::size_t(cols));
        const auto xr = rounded(x);
        std::vector<float> want(static_cast<std::size_t>(rows)), got(static_cast<std::size_t>(rows) + 1, nan_value), scale(static_cast<std::size_t>(rows));
        std::vector<float> xa(static_cast<std::size_t>(cols) + 1, nan_value);
        scalar::gemv_bf16(w.data(), rows, cols, xr.data(), want.data());
        k.arrange_bf16(x.data(), cols, xa.data());
        BOOST_TEST(std::isnan(xa[std::size_t(cols)]));
        k.gemv_bf16(w.data(), rows, cols, xa.data(), got.data());
        for (int r = 0; r < rows; ++r)
          for (int c = 0; c < cols; ++c) scale[r] += std::fabs(to_float(w[std::size_t(r) * cols + c]) * xr[c]);
        check_close(got.data(), want.data(), scale.data(), std::size_t(rows), 1e-5);
        BOOST_TEST(std::isnan(got[std::size_t(rows)]));
      }
    }
  for (int rows : {1, 3, 7})
    for (int blocks : {1, 3, 17, 90}) {
      const int cols = blocks * mxfp4::block_elems;
      BOOST_TEST_CONTEXT(what << " MXFP4 rows " << rows << " cols " << cols) {
        auto q = rnd.bytes(std::size_t(rows) * cols / 2);
        auto s = rnd.scales(std::size_t(rows) * blocks);  // with scale bytes that cannot be folded
        auto x = rnd.floats(std::size_t(cols));
        const auto xr = rounded(x);
        std::vector<float> w(static_cast<std::size_t>(rows) * cols), scale(static_cast<std::size_t>(rows));
        std::vector<float> xa(static_cast<std::size_t>(cols) + 1, nan_value);
        k.arrange_mxfp4(x.data(), cols, xa.data());
        std::vector<float> want(static_cast<std::size_t>(rows)), got(static_cast<std::size_t>(rows) + 1, nan_value);
        scalar::gemv_mxfp4(q.data(), s.data(), rows, cols, xr.data(), want.data());
        k.gemv_mxfp4(q.data(), s.data(), rows, cols, xa.data(), got.data());
        mxfp4::decode_row(q.data(), s.data(), std::size_t(rows) * cols, w.data());
        for (int r = 0; r < rows; ++r)
          for (int c = 0; c < cols; ++c) scale[r] += std::fabs(w[std::size_t(r) * cols + c] * xr[c]);
        check_close(got.data(), want.data(), scale.data(), std::size_t(rows), 1e-5);
        BOOST_TEST(std::isnan(got[std::size_t(rows)]));
      }
    }
}

// matmul in bf16, one token and many, against the definition on rounded activations; and each
// token's rows bit for bit those it gets alone.
void bf16_matmul_matches_and_is_batch_invariant(const Kernels& k, const char* what) {
  for (int cols : {96, 608, 2880}) {
    Random rnd;
    const int rows = 37;
    const RandomLinear lin(rnd, rows, cols);
    const Bf16Vector b = lin.b();
    const int most = 13;
    const auto x = rnd.floats(std::size_t(most) * cols);
    const auto xr = rounded(x);
    auto check = [&](const auto& w, auto weight) {
      ThreadPool one(1);
      Scratch scratch;
      std::vector<float> alone(static_cast<std::size_t>(most) * rows, nan_value);
      for (int t = 0; t < most; ++t) matmul(w, &b, x.data() + t * cols, cols, 1, alone.data() + t * rows, rows, one, scratch, k);
      for (int t = 0; t < most; ++t)
        for (int r = 0; r < rows; ++r) {
          double want = b[r], scale = std::fabs(b[r]);
          for (int c = 0; c < cols; ++c) {
            want += double(weight(r, c)) * xr[t * cols + c];
            scale += std::fabs(weight(r, c) * xr[t * cols + c]);
          }
          BOOST_REQUIRE_MESSAGE(std::fabs(alone[t * rows + r] - want) <= 1e-5 * scale,
                                what << " cols " << cols << " token " << t << " row " << r << ": " << alone[t * rows + r]
                                     << " vs " << want);
        }
      for (int threads : {1, 3})
        for (int tokens : {2, 4, 13}) {
          ThreadPool pool(threads);
          std::vector<float> y(static_cast<std::size_t>(tokens) * rows, nan_value);
          matmul(w, &b, x.data(), cols, tokens, y.data(), rows, pool, scratch, k);
          BOOST_REQUIRE_MESSAGE(std::memcmp(y.data(), alone.data(), y.size() * sizeof(float)) == 0,
                                what << " cols " << cols << " threads " << threads << " tokens " << tokens
                                     << ": rows differ from those of each token alone");
        }
    };
    check(lin.bf16_rows(), [&](int r, int c) { return lin.bf16_weight(r, c); });
    check(lin.mxfp4_rows(), [&](int r, int c) { return lin.mxfp4_weight(r, c); });
  }
}

}  // namespace

SIMD_AND_SCALAR_CASE(bf16_rounding_gemvs_match_scalar) {
  bf16_gemvs_match_scalar(kernels_for(isa, Precision::bf16, /*native=*/false), isa_name(isa));
}
SIMD_AND_SCALAR_CASE(bf16_rounding_matmul_matches_and_is_batch_invariant) {
  bf16_matmul_matches_and_is_batch_invariant(kernels_for(isa, Precision::bf16, /*native=*/false), isa_name(isa));
}

#if defined(__x86_64__)
#define NATIVE_BF16_CASE(name) \
  BOOST_AUTO_TEST_CASE(name, *boost::unit_test::label("avx512bf16") * boost::unit_test::precondition(NativeBf16Testable{}))

NATIVE_BF16_CASE(avx512bf16_gemvs_match_scalar) {
  bf16_gemvs_match_scalar(kernels_for(Isa::avx512, Precision::bf16), "avx512bf16");
}
NATIVE_BF16_CASE(avx512bf16_matmul_matches_and_is_batch_invariant) {
  bf16_matmul_matches_and_is_batch_invariant(kernels_for(Isa::avx512, Precision::bf16), "avx512bf16");
}
// The packed activations are to_bf16's: nearest, ties to even, NaN kept, over every length's tail.
NATIVE_BF16_CASE(avx512bf16_activations_round_as_to_bf16) {
  Random rnd;
  auto x = rnd.floats(77);
  const std::uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0xff800000u, 0x7fc00001u,
                                   0x7f800001u, 0x00000001u, 0x80000000u, 0x3f7fffffu};
  for (std::size_t i = 0; i < std::size(special); ++i) x[i * 7] = std::bit_cast<float>(special[i]);
  for (int n : {1, 15, 16, 17, 77}) {
    std::vector<float> out(static_cast<std::size_t>(n), nan_value);
    kernels_for(Isa::avx512, Precision::bf16).arrange_bf16(x.data(), n, out.data());
    const auto* got = reinterpret_cast<const std::uint16_t*>(out.data());
    for (int i = 0; i < n; ++i)
      BOOST_REQUIRE_MESSAGE(got[i] == to_bf16(x[i]).bits, "value " << i << " of " << n << ": " << got[i] << " vs "
                                                                   << to_bf16(x[i]).bits);
  }
}
#endif

// The kernels a CPU runs in each precision.
BOOST_AUTO_TEST_CASE(each_precision_picks_its_kernels) {
  BOOST_TEST((kernels(Precision::exact).precision == Precision::exact));
  BOOST_TEST((&kernels(Precision::exact) == &kernels()));
  const Kernels& k = kernels(Precision::bf16);
  BOOST_TEST((k.precision == Precision::bf16));
  BOOST_TEST(k.bf16_products == (native_bf16() && active_isa() == Isa::avx512));
  BOOST_TEST((k.isa == kernels().isa));
}
