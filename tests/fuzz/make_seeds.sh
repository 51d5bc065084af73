#!/usr/bin/env bash
# Writes the seed corpora into $QUIVER_FUZZ_BUILD/fuzz-seeds/<target>/: generated files
# for the binary formats (quiver_fuzz_seeds) plus the committed text seeds in seeds/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

quiver_fuzz_build quiver_fuzz_seeds
rm -rf "$QUIVER_FUZZ_BUILD/fuzz-seeds"
"$QUIVER_FUZZ_BUILD/tests/fuzz/quiver_fuzz_seeds" "$QUIVER_FUZZ_BUILD/fuzz-seeds"
mkdir -p "$(quiver_fuzz_seed_dir fuzz_filter_expression)"
cp "$QUIVER_SOURCE_DIR"/tests/fuzz/seeds/filter_expression/* "$(quiver_fuzz_seed_dir fuzz_filter_expression)/"
for target in "${QUIVER_FUZZ_TARGETS[@]}"; do
  echo "$target: $(ls "$(quiver_fuzz_seed_dir "$target")" | wc -l) seeds"
done
