#!/usr/bin/env bash
# run.sh TARGET SECONDS [extra libFuzzer flags]: builds TARGET if needed, makes the seed
# corpora if missing, and fuzzes for SECONDS on the growing corpus
# $QUIVER_FUZZ_BUILD/fuzz-corpus/TARGET (seeded from fuzz-seeds/TARGET). Crashes land
# in $QUIVER_FUZZ_BUILD/fuzz-artifacts/TARGET/. Exits non-zero on a finding.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ $# -lt 2 ]]; then
  echo "usage: $0 TARGET SECONDS [libFuzzer flags...]; targets: ${QUIVER_FUZZ_TARGETS[*]}" >&2
  exit 2
fi
target="$1"
seconds="$2"
shift 2
if [[ ! " ${QUIVER_FUZZ_TARGETS[*]} " == *" $target "* ]]; then
  echo "unknown target '$target'; targets: ${QUIVER_FUZZ_TARGETS[*]}" >&2
  exit 2
fi

quiver_fuzz_build "$target"
if [[ ! -d "$(quiver_fuzz_seed_dir "$target")" ]]; then
  "$QUIVER_SOURCE_DIR/tests/fuzz/make_seeds.sh"
fi
corpus="$QUIVER_FUZZ_BUILD/fuzz-corpus/$target"
artifacts="$QUIVER_FUZZ_BUILD/fuzz-artifacts/$target"
mkdir -p "$corpus" "$artifacts"

# -rss_limit_mb also caps single mallocs: a reader that trusts a header's size fails here.
# -timeout flags any single input that runs for more than 10 s as a hang.
exec nice -n 19 "$QUIVER_FUZZ_BUILD/tests/fuzz/$target" "$corpus" "$(quiver_fuzz_seed_dir "$target")" \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$(quiver_fuzz_max_len "$target")" \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "$@"
