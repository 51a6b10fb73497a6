#!/usr/bin/env bash
# Installs what building and testing gptoss needs on Debian 12, from Debian's packages.
set -euo pipefail
# clang-14 and its compiler-rt (libclang-rt-14-dev) build the libFuzzer targets (tools/test-all.sh);
# g++-aarch64-linux-gnu and qemu-user the aarch64 stage (cmake/aarch64-linux-gnu.cmake), which
# takes every other dependency from the headers above.
packages=(cmake ninja-build g++ libeigen3-dev libfmt-dev nlohmann-json3-dev libboost-test-dev libbenchmark-dev
          clang-14 libclang-rt-14-dev g++-aarch64-linux-gnu qemu-user)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  as_root=()
  [[ $(id -u) -eq 0 ]] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
