#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. set-up and Release build, then every CTest test (unit tests, CLI smoke tests, the
#      installed-package consumer, the Thrift service tests with the Python client);
#   2. one clang build with AddressSanitizer + UndefinedBehaviorSanitizer (and libFuzzer's
#      coverage hooks): the unit tests again, then each fuzz target briefly on its seeds;
#   3. a ThreadSanitizer build of the threaded engine tests: the concurrency test (25k
#      mixed operations here; QUIVER_CONCURRENCY_OPS=100000 is the issue's full run,
#      recorded in tests/fuzz/README.md), the durable collection's and filtered search's.
# QUIVER_SKIP_SANITIZERS=1 stops after step 1 (a quick local check).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
source tools/compiler_cache.sh
jobs="$(nproc)"

echo "== Release build: all tests"
ctest --test-dir build --output-on-failure -j "$jobs"
[ "${QUIVER_SKIP_SANITIZERS:-0}" = 1 ] && exit 0

# Both instrumented builds: -O1 with line tables keeps them quick to compile, and
# without NDEBUG the asserts stay armed. The AVX-512 kernels are left out (the Release
# run tests them where the CPU has them); only unit tests and fuzz targets are built.
instrumented_flags="-O1 -gline-tables-only"

echo "== ASan + UBSan (clang): unit tests and fuzz smoke"
CC=clang CXX=clang++ cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$instrumented_flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$instrumented_flags" \
  -DQUIVER_BUILD_FUZZ=ON -DQUIVER_BUILD_BENCH=OFF -DQUIVER_AVX512=OFF "${compiler_cache_flags[@]}"
cmake --build build-sanitize -j "$jobs" --target quiver_unit_tests quiver_fuzz
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-sanitize --output-on-failure -j "$jobs" -L unit
QUIVER_FUZZ_BUILD="$PWD/build-sanitize" QUIVER_FUZZ_SMOKE_SECONDS="${QUIVER_FUZZ_SMOKE_SECONDS:-10}" \
  tests/fuzz/smoke.sh

echo "== TSan (clang): threaded engine tests"
# -g rather than line tables: tests/tsan.supp names an inlined hnswlib frame.
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DQUIVER_SANITIZE=thread -DQUIVER_BUILD_BENCH=OFF -DQUIVER_AVX512=OFF "${compiler_cache_flags[@]}"
cmake --build build-tsan -j "$jobs" --target quiver_engine_tests
QUIVER_CONCURRENCY_OPS="${QUIVER_CONCURRENCY_OPS:-25000}" ctest --test-dir build-tsan --output-on-failure -j "$jobs" -L threaded
