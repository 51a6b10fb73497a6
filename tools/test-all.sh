#!/usr/bin/env bash
# Builds gptoss and runs every test through ctest; then the tests cross-compiled for aarch64 (the
# NEON kernels) and run under qemu-user; then (CI's hostile-input stages, issue 7) the test suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer, and every libFuzzer target for
# GPTOSS_FUZZ_SECONDS (default 60) each. Any failure, sanitizer report, leak or fuzzer crash fails
# the script. GPTOSS_QUICK=1 stops after the first stage.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900
[[ "${GPTOSS_QUICK:-0}" == 1 ]] && exit 0

# aarch64: Debian's cross compiler, every test program run through qemu-user (the toolchain
# file's emulator). This stage comes first after the native one: it is the one most likely to
# fail on a change that passed natively (another ISA's kernels, char signedness, alignment).
# Left out: the `long` golden cases (4000-token prefills, minutes each under the emulator; the
# shorter golden cases run the same kernels), and the packaging tests, which build and run a
# consumer for the build machine, not for the target. No benchmarks: Google Benchmark has no
# target library here, and timings under an emulator mean nothing.
cmake -S . -B build-aarch64 -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" \
  -DGPTOSS_BUILD_BENCH=OFF -DGPTOSS_CUDA=OFF
cmake --build build-aarch64 -j "$jobs"
ctest --test-dir build-aarch64 --output-on-failure -j "$jobs" --timeout 900 -LE long \
  -E '^(install_and_find_package|add_subdirectory)$'

# The same tests with sanitizers; the benchmarks are left out (they test speed, not safety).
# A report aborts the process (-fno-sanitize-recover), which fails its test.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Boost.Test would catch the sanitizer's abort and exit through atexit handlers, where
# LeakSanitizer runs again and spins forever: let the abort end the process.
export BOOST_TEST_CATCH_SYSTEM_ERRORS=no
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPTOSS_SANITIZE=address,undefined \
  -DGPTOSS_BUILD_BENCH=OFF -DGPTOSS_CUDA=OFF
cmake --build build-asan -j "$jobs"
# (The packaging tests build consumers without sanitizers, so they are not run again here.)
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 -E '^(install_and_find_package|add_subdirectory)$'

# libFuzzer needs clang; only the fuzz targets are built in this tree.
unset ASAN_OPTIONS UBSAN_OPTIONS
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 -DGPTOSS_FUZZ=ON \
  -DGPTOSS_FUZZ_SECONDS="${GPTOSS_FUZZ_SECONDS:-60}" -DGPTOSS_BUILD_BENCH=OFF -DGPTOSS_CUDA=OFF
cmake --build build-fuzz -j "$jobs" --target fuzzers
ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L fuzz
