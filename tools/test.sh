#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up and Release build, every CTest test
# (unit tests, CLI smoke tests, the installed-package consumer), then the unit tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
jobs="$(nproc)"

echo "== Release build: all tests"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== ASan + UBSan build: all tests"
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQUIVER_SANITIZE=address,undefined -DQUIVER_BUILD_BENCH=OFF
cmake --build build-sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-sanitize --output-on-failure -j "$jobs"
