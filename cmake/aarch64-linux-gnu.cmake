# Cross build for 64-bit ARM Linux with Debian's cross compiler (g++-aarch64-linux-gnu), tests run
# under qemu-user (package qemu-user): tools/test-all.sh configures build-aarch64 with
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DGPTOSS_BUILD_BENCH=OFF
# and ctest runs every test program through CMAKE_CROSSCOMPILING_EMULATOR. The target's libc and
# libstdc++ live in /usr/aarch64-linux-gnu; the compiler also searches /usr/include after them,
# so the architecture-independent headers of nlohmann-json, fmt, CLI11 and Boost that the native
# build uses serve the target too (fmt and Boost.Test compiled from headers: GPTOSS_HEADER_ONLY_DEPS,
# on by default in a cross build).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# -L: the dynamic loader and shared libraries of the target, where the cross toolchain put them.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)

# CMake packages and programs are searched on the build machine as usual: the only packages found
# (nlohmann_json, CLI11) are header-only and architecture-independent. No CUDA for this target: off unless asked.
set(GPTOSS_CUDA OFF CACHE BOOL "Build the CUDA backend's tests and gptoss --device cuda (needs nvcc)")
