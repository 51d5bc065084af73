// Exact k nearest neighbours by brute force with quiver's SIMD kernels: ground truth
// for recall measurements, and the right tool when a filter leaves few candidates.
#pragma once

#include <cstddef>
#include <vector>

#include "quiver/export.h"
#include "quiver/hit.h"
#include "quiver/id_filter.h"
#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver {

// For each query row, the k best rows of `data` (Hit::id = row number), best first,
// scored as Index::search scores. Rows `filter` rejects are skipped. `threads` 0 = all.
// Throws InvalidArgument on a dimension mismatch or k = 0; returns fewer than k hits
// only when fewer rows are allowed.
QUIVER_API std::vector<std::vector<Hit>> exact_search(MatrixView data, MatrixView queries, std::size_t k,
                                                      Metric metric, std::size_t threads = 0,
                                                      const IdFilter* filter = nullptr);

}  // namespace quiver
