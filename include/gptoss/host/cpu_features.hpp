// Which SIMD instruction set the host kernels use, chosen once at run time from what the CPU
// reports, so one binary built without -march flags still runs the AVX-512 code where it can.
// The environment variable GPTOSS_ISA (scalar, avx2, avx512, neon) can lower the choice, to
// compare paths or to work around a misbehaving CPU; it can never raise it past what the CPU has.
#pragma once
#include <cstdlib>
#include <string>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#define GPTOSS_X86 1
#endif

namespace gptoss::host {

// The x86 levels are ordered: each implies the ones before it. neon is aarch64's one level above
// scalar; it implies neither x86 level, so choose_isa also asks whether the CPU supports a level.
enum class Isa {
  scalar,  // portable C++, the reference every other path is tested against
  avx2,    // AVX2 + FMA (x86-64-v3)
  avx512,  // AVX-512 F/BW/VL (x86-64-v4)
  neon,    // AArch64 Advanced SIMD (armv8-a baseline)
};

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::neon: return "neon";
    default: return "scalar";
  }
}

// What the CPU (and the operating system's saved register state) supports.
struct CpuFeatures {
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512bf16 = false, avx512vnni = false;
  bool neon = false;

  bool supports(Isa isa) const {
    switch (isa) {
      case Isa::avx2: return avx2 && fma;
      case Isa::avx512: return avx512f && avx512bw && avx512vl;
      case Isa::neon: return neon;
      default: return true;
    }
  }
  Isa best() const {
    for (Isa isa : {Isa::neon, Isa::avx512, Isa::avx2})
      if (supports(isa)) return isa;
    return Isa::scalar;
  }
  // A one-line list for reports: "avx2 fma avx512f ...".
  std::string describe() const {
    std::string s;
    auto add = [&](bool on, const char* name) {
      if (!on) return;
      if (!s.empty()) s += ' ';
      s += name;
    };
    add(avx2, "avx2"), add(fma, "fma"), add(avx512f, "avx512f"), add(avx512bw, "avx512bw");
    add(avx512vl, "avx512vl"), add(avx512bf16, "avx512bf16"), add(avx512vnni, "avx512vnni");
    add(neon, "neon");
    return s.empty() ? "none" : s;
  }
};

inline CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if defined(GPTOSS_X86) && (defined(__GNUC__) || defined(__clang__))
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XGETBV).
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
  // Part of the AArch64 baseline: the compiler already uses it everywhere in this program.
  f.neon = true;
#endif
  return f;
}

inline const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect_cpu_features();
  return f;
}

// The best supported Isa, lowered to GPTOSS_ISA when that names a supported lower one.
inline Isa choose_isa(const CpuFeatures& f, const char* requested) {
  Isa isa = f.best();
  if (requested) {
    for (Isa want : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::neon})
      if (std::string_view(requested) == isa_name(want) && want < isa && f.supports(want)) isa = want;
  }
  return isa;
}

inline Isa active_isa() {
  static const Isa isa = choose_isa(cpu_features(), std::getenv("GPTOSS_ISA"));
  return isa;
}

}  // namespace gptoss::host
