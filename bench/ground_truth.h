// Exact k nearest neighbours of every query: taken from the data set when it ships
// them, else computed by brute force with FAISS's BLAS-backed flat index and cached in
// the cache directory, so each (data, queries, metric, k) pays for it once.
#pragma once

#include <cstddef>
#include <filesystem>

#include "bench/dataset.h"
#include "quiver/matrix.h"

namespace quiver::bench {

// nq x k neighbour ids, best first.
IntMatrix exact_neighbours(const Dataset& data, std::size_t k, const std::filesystem::path& cache_dir,
                           std::size_t threads);

}  // namespace quiver::bench
