// A small test harness for the device tests (Boost.Test is kept away from nvcc): named cases,
// checks that count failures, and a main that skips everything when there is no CUDA device and
// fails when CUDA is there but broken.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/compare.hpp"
#include "gptoss/cuda/memory.cuh"

namespace cudatest {

struct Case {
  const char* name;
  void (*run)();
};
inline std::vector<Case>& cases() {
  static std::vector<Case> all;
  return all;
}
struct Register {
  Register(const char* name, void (*run)()) { cases().push_back({name, run}); }
};
inline int& failures() {
  static int n = 0;
  return n;
}

inline void check(bool ok, const std::string& what, const char* file, int line) {
  if (ok) return;
  ++failures();
  std::printf("  FAILED %s:%d: %s\n", file, line, what.c_str());
}

// Exit codes: 0 every case passed, 1 a case failed or CUDA is broken, 2 no case of that name,
// skipped_exit_code when the machine has no GPU (ctest's SKIP_RETURN_CODE: reported as skipped, and
// tools/gpu-check.sh fails on it). The last line, "ran N of M cases", lets a caller check the count.
inline constexpr int skipped_exit_code = 77;

inline int run_all(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  if (argc > 2) {
    std::printf("usage: %s [CASE]\n", argv[0]);
    return 2;
  }
  if (!only.empty() && std::none_of(cases().begin(), cases().end(), [&](const Case& c) { return only == c.name; })) {
    std::printf("no test case named '%s'; the cases are:\n", only.c_str());
    for (const Case& c : cases()) std::printf("  %s\n", c.name);
    return 2;
  }
  int devices = 0;
  try {
    devices = gptoss::gpu::device_count();
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
  if (devices == 0) {
    std::printf("skipped: no CUDA device (%s); %zu device test cases not run\n",
                gptoss::gpu::driver_present() ? "the NVIDIA driver reports none"
                                                      : "no NVIDIA driver: no /dev/nvidia*, no libcuda.so.1",
                cases().size());
    return skipped_exit_code;
  }
  std::printf("CUDA device 0: %s\n", gptoss::gpu::device_name(0).c_str());
  int failed_cases = 0, ran = 0;
  for (const Case& c : cases()) {
    if (!only.empty() && only != c.name) continue;
    const int before = failures();
    std::printf("[ RUN  ] %s\n", c.name);
    std::fflush(stdout);
    try {
      c.run();
    } catch (const std::exception& e) {
      ++failures();
      std::printf("  FAILED: exception: %s\n", e.what());
    }
    const bool ok = failures() == before;
    failed_cases += !ok;
    ++ran;
    std::printf("[ %s ] %s\n", ok ? " OK " : "FAIL", c.name);
  }
  std::printf("%d of %d cases failed\nran %d of %zu cases\n", failed_cases, ran, ran, cases().size());
  return failed_cases ? 1 : 0;
}

}  // namespace cudatest

#define CT_CASE(name)                                         \
  static void name();                                         \
  static const cudatest::Register register_##name{#name, name}; \
  static void name()
#define CT_CHECK(cond, what) cudatest::check(bool(cond), std::string(#cond) + " -- " + (what), __FILE__, __LINE__)
#define CT_MAIN() \
  int main(int argc, char** argv) { return cudatest::run_all(argc, argv); }
