#!/usr/bin/env bash
# Builds gptoss and runs every test through ctest; then the tests cross-compiled for aarch64 (the
# NEON kernels) and run under qemu-user; then (CI's hostile-input stages, issue 7) the test suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer, and every libFuzzer target for
# GPTOSS_FUZZ_SECONDS (default 60) each. Any failure, sanitizer report, leak or fuzzer crash fails
# the script. GPTOSS_QUICK=1 stops after the first stage.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# What a stage's ctest run skipped, and why: ctest's summary names the tests, their own output
# (kept in ctest's log) gives the reason: an instruction set this CPU lacks, no GPU.
report_skipped() {  # report_skipped BUILD_DIR
  local log=$1/Testing/Temporary/LastTest.log
  [[ -f $log ]] || return 0
  echo "== skipped in $1 (and why):"
  grep -ahoE "skipped: no CUDA device[^;]*|is skipped because precondition failed: .*|GPTOSS_ISA=[a-z0-9]+ cannot be run here: .*" "$log" \
    | sed -E 's/\x1b\[[0-9;]*m//g' | sort | uniq -c || echo "   nothing"
}

# The CUDA backend is asked for explicitly: without nvcc this configure fails instead of quietly
# building no device code. Its device tests compile here and skip, saying so, without a GPU.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPTOSS_CUDA=ON
cmake --build build -j "$jobs"
for program in test_cuda_kernels test_cuda_model test_cuda_probe; do
  [[ -x build/tests/cuda/$program ]] || { echo "CUDA build asked for, but build/tests/cuda/$program was not built"; exit 1; }
done
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900
report_skipped build
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
echo "== aarch64 under qemu leaves out: the 'long' cases (minutes each under the emulator) and the packaging tests"
ctest --test-dir build-aarch64 --output-on-failure -j "$jobs" --timeout 900 -LE long \
  -E '^(install_and_find_package|add_subdirectory)$'
report_skipped build-aarch64

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
ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 -E '^(install_and_find_package|add_subdirectory|install_and_pkg_config)$'
report_skipped build-asan

# libFuzzer needs clang; only the fuzz targets are built in this tree.
unset ASAN_OPTIONS UBSAN_OPTIONS
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 -DGPTOSS_FUZZ=ON \
  -DGPTOSS_FUZZ_SECONDS="${GPTOSS_FUZZ_SECONDS:-60}" -DGPTOSS_BUILD_BENCH=OFF -DGPTOSS_CUDA=OFF
cmake --build build-fuzz -j "$jobs" --target fuzzers
ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L fuzz
