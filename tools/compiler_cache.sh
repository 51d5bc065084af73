# Sourced by setup.sh and test.sh: compile through ccache where it is installed, so
# that a fresh clone on a machine that has built quiver before (CI's) recompiles only
# what changed. Paths under the checkout are hashed relative to it and the working
# directory is left out of the hash, so every clone shares one cache.
compiler_cache_flags=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  compiler_cache_flags=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
