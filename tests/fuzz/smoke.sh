#!/usr/bin/env bash
# The CI fuzz smoke test: builds every fuzz target and runs each for a few seconds
# (QUIVER_FUZZ_SMOKE_SECONDS, default 12) on its seed corpus. Fails on the first finding.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

seconds="${QUIVER_FUZZ_SMOKE_SECONDS:-12}"
quiver_fuzz_build quiver_fuzz
"$QUIVER_SOURCE_DIR/tests/fuzz/make_seeds.sh"
for target in "${QUIVER_FUZZ_TARGETS[@]}"; do
  echo "=== $target (${seconds}s)"
  # A throwaway corpus: CI runs must not depend on what earlier runs found.
  scratch="$(mktemp -d)"
  artifacts="$QUIVER_FUZZ_BUILD/fuzz-artifacts/smoke-$target"
  mkdir -p "$artifacts"
  if ! "$QUIVER_FUZZ_BUILD/tests/fuzz/$target" "$scratch" "$(quiver_fuzz_seed_dir "$target")" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$(quiver_fuzz_max_len "$target")" \
      -artifact_prefix="$artifacts/" 2>"$scratch.log"; then
    tail -n 40 "$scratch.log"
    echo "FAIL: $target (inputs in $artifacts)" >&2
    rm -rf "$scratch" "$scratch.log"
    exit 1
  fi
  grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' "$scratch.log" | tail -n 1 || true
  rm -rf "$scratch" "$scratch.log"
done
echo "fuzz smoke: all ${#QUIVER_FUZZ_TARGETS[@]} targets clean"
