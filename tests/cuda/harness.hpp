// A small test harness for the device tests (Boost.Test is kept away from nvcc): named cases,
// checks that count failures, and a main that skips everything when there is no CUDA device.
#pragma once
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

inline int run_all(int argc, char** argv) {
  const int devices = gptoss::cuda_detail::device_count();
  if (devices == 0) {
    std::printf("skipped: no CUDA device (cudaGetDeviceCount reports none); %zu device test cases not run\n",
                cases().size());
    return 0;
  }
  std::printf("CUDA device 0: %s\n", gptoss::cuda_detail::device_name(0).c_str());
  const std::string only = argc > 1 ? argv[1] : "";
  int failed_cases = 0;
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
    std::printf("[ %s ] %s\n", ok ? " OK " : "FAIL", c.name);
  }
  std::printf("%d of %zu cases failed\n", failed_cases, cases().size());
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
