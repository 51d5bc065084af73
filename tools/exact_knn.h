// Exact k nearest neighbours by brute force, for ground truth where the data set has
// none (the demo, Fashion-MNIST). Multithreaded, blocked over queries so each base row
// is read from memory once per block. Ranks exactly as the index does: L2 by squared
// distance, inner product and cosine (on normalised copies) by similarity.
#pragma once

#include <cstddef>

#include "quiver/build_options.h"
#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver::cli {

struct ExactNeighbours {
  IntMatrix ids;     // queries.rows x k row indexes into `base`, best first
  Matrix scores;     // the matching Hit::score values (squared L2, ip or cosine)
};

// `threads` 0 = all hardware threads. `progress` (optional) is called from the calling
// thread with queries done; returning false throws quiver::Cancelled.
ExactNeighbours exact_knn(MatrixView base, MatrixView queries, Metric metric, std::size_t k,
                          std::size_t threads = 0, const ProgressCallback& progress = {});

}  // namespace quiver::cli
