// Options of long-running operations (build, add, compact): threads and a
// progress/cancel callback that the CLI's progress bar and the server both use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "quiver/matrix.h"

namespace quiver {

struct Progress {
  std::size_t done = 0;
  std::size_t total = 0;
};

// Called from the calling thread every few hundred items; return false to cancel
// (the operation then throws Cancelled and leaves the index as it was before the call
// for build, or with the items added so far for add).
using ProgressCallback = std::function<bool(const Progress&)>;

struct BuildOptions {
  std::size_t threads = 0;  // 0 = all hardware threads
  ProgressCallback progress;
  std::uint64_t seed = 100;  // HNSW level generator
  // Vectors from the query distribution, for specs that learn from queries
  // (leanvec-ood); ignored otherwise. Disjoint from the queries you evaluate with.
  MatrixView sample_queries;
};

}  // namespace quiver
