// Caps on what one Index may take from its host: a service embedding quiver sets them so
// that a hostile or mistaken request (a billion-row batch, an index grown past the
// machine's memory) is refused with ResourceExhausted before anything is allocated,
// instead of ending in bad_alloc or the OOM killer. Checked by Index::build, add and load.
#pragma once

#include <cstddef>

namespace quiver {

struct ResourceLimits {
  // 0 means "no limit" for each field.

  // Live vectors the index may hold after an add (tombstones do not count; they are
  // covered by the memory budget until compact() frees them).
  std::size_t max_vectors = 0;
  // Rows one build() or add() call may bring, and queries one search_batch() call may ask.
  std::size_t max_batch = 0;
  // Bound on the index's estimated memory: per allocated slot, hnswlib's element block
  // (base-layer links, primary code, label), its lock, level and list pointer, two
  // visited marks, and the re-rank code; per stored vector, the expected upper-layer
  // links and the id map entry; once, the sample queries an attention graph keeps for
  // compact(). Transient memory (LeanVec training, compact()'s rebuild,
  // per-query buffers) is not counted.
  std::size_t memory_budget_bytes = 0;
};

}  // namespace quiver
