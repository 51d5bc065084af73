// Parameters of one search. They travel with each call; nothing of a search is
// stored on the index, so concurrent searches with different parameters are safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "quiver/id_filter.h"

namespace quiver {

struct SearchParams {
  std::size_t k = 10;
  // Search window: the walk expands its best ef candidates. Below k, the search keeps
  // the best k keys it scored, so a narrow walk still returns k hits: its first ones as
  // good as a k = ef search's, the rest what the walk passed by (bench/RESULTS.md).
  std::size_t ef = 64;
  // Candidates kept for re-ranking with the full-dimension vectors (0 = ef). Larger
  // than ef, it buys recall for compressed indexes without widening the walk.
  std::size_t buffer = 0;
  const IdFilter* filter = nullptr;             // only ids it allows are returned
  // Hits whose relevance (Hit::relevance, from the index's relevance filter) is below
  // this are dropped; in [0, 1]. 0 keeps every hit. Above 0 it needs a filter attached.
  float min_relevance = 0.0f;
  const std::atomic<bool>* cancel = nullptr;    // set to stop early; partial results are returned
};

// Work done by searches, for the benchmark's hardware-independent cost measure.
struct SearchStats {
  std::uint64_t queries = 0;
  std::uint64_t distances = 0;  // distance evaluations
  std::uint64_t hops = 0;       // nodes whose neighbour lists were expanded

  SearchStats& operator+=(const SearchStats& other) {
    queries += other.queries;
    distances += other.distances;
    hops += other.hops;
    return *this;
  }
};

}  // namespace quiver
