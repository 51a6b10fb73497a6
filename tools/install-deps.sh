#!/usr/bin/env bash
# Installs what building gptoss needs on Debian 12, from Debian's packages.
#   bash tools/install-deps.sh        the library and the gptoss program (the README's quick start;
#                                     cpp-httplib and pkg-config for `gptoss serve`)
#   bash tools/install-deps.sh --ci   also what tools/test-all.sh needs: Boost.Test and pkg-config for the tests,
#                                     Google Benchmark for the benchmarks, clang-14 and its
#                                     compiler-rt for the libFuzzer targets, g++-aarch64-linux-gnu and
#                                     qemu-user for the aarch64 stage (cmake/aarch64-linux-gnu.cmake),
#                                     Node.js with the npm packages of tests/constrain (ajv, which
#                                     judges the structured-output tests' replies) and of tests/serve
#                                     (the official openai client, which tests `gptoss serve`), and
#                                     nginx, the load balancer of tests/serve/scale_out.test.mjs (the
#                                     test runs /usr/sbin/nginx unprivileged on its own port; the
#                                     system nginx the package starts where services may start and
#                                     port 80 is free is not used; in Debian's container images,
#                                     whose policy-rc.d refuses to start services, none starts)
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(cmake ninja-build g++ nlohmann-json3-dev libfmt-dev libcli11-dev libcpp-httplib-dev pkg-config)
case "${1:-}" in
  "") ;;
  --ci) packages+=(libboost-test-dev libbenchmark-dev pkg-config clang-14 libclang-rt-14-dev g++-aarch64-linux-gnu qemu-user nginx)
        # Node.js may come from outside Debian's packages (as on the CI machines); Debian's otherwise.
        command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm) ;;
  *) echo "usage: bash tools/install-deps.sh [--ci]" >&2; exit 2 ;;
esac
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
if [[ ${1:-} == --ci ]]; then
  npm ci --prefix tests/constrain --no-audit --no-fund --loglevel=error
  npm ci --prefix tests/serve --no-audit --no-fund --loglevel=error
fi
