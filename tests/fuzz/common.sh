# Sourced by run.sh, smoke.sh and make_seeds.sh: where the fuzz build lives and how to
# configure and build it (clang, ASan+UBSan+libFuzzer; never the bench or the CLI). -O1
# with line tables and without NDEBUG: quick to compile, and the asserts (Eigen's among
# them) stay armed as extra oracles.
QUIVER_SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
QUIVER_FUZZ_BUILD="${QUIVER_FUZZ_BUILD:-$QUIVER_SOURCE_DIR/build-fuzz}"
QUIVER_FUZZ_JOBS="${QUIVER_FUZZ_JOBS:-2}"
QUIVER_FUZZ_TARGETS=(fuzz_vecs fuzz_bin fuzz_npy fuzz_idx fuzz_index_load fuzz_index_spec
                     fuzz_filter_expression fuzz_relevance_filter)

quiver_fuzz_build() {
  if [[ ! -f "$QUIVER_FUZZ_BUILD/build.ninja" ]]; then
    CC=clang CXX=clang++ cmake -S "$QUIVER_SOURCE_DIR" -B "$QUIVER_FUZZ_BUILD" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUIVER_BUILD_FUZZ=ON -DQUIVER_BUILD_TESTS=OFF -DQUIVER_BUILD_BENCH=OFF \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only"
  fi
  nice -n 19 cmake --build "$QUIVER_FUZZ_BUILD" --target "$@" -- -j "$QUIVER_FUZZ_JOBS"
}

# The largest input each target gets: a few times its biggest seed, small enough that
# every execution stays fast.
quiver_fuzz_max_len() {
  case "$1" in
    fuzz_index_spec) echo 256 ;;
    fuzz_filter_expression) echo 1024 ;;
    fuzz_index_load) echo 16384 ;;
    fuzz_relevance_filter) echo 32768 ;;
    *) echo 4096 ;;
  esac
}

quiver_fuzz_seed_dir() { echo "$QUIVER_FUZZ_BUILD/fuzz-seeds/$1"; }
