// recall@k of search results against ground-truth neighbour ids (row indexes, as in
// ivecs/ibin/HDF5 `neighbors` files): the fraction of the true k nearest found.
#pragma once

#include <cstddef>
#include <vector>

#include "quiver/hit.h"
#include "quiver/matrix.h"

namespace quiver::cli {

// Averaged over all queries. Throws InvalidArgument if `truth` has fewer rows than
// `results` or fewer than k columns.
// The ids of each result list as a ground-truth matrix (k columns; -1 pads short lists).
IntMatrix hit_ids(const std::vector<std::vector<Hit>>& results, std::size_t k);

double recall_at_k(const std::vector<std::vector<Hit>>& results, IntMatrixView truth, std::size_t k);

}  // namespace quiver::cli
