// The exact top-k inner products of a sample of queries, by blocked brute force. Query-aware
// PQ learns from them which keys queries actually retrieve (the scores a top-k search
// depends on) and how the queries that retrieve a key lie relative to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "quiver/matrix.h"

namespace quiver::quant {

// For each chosen query row, the data rows of its min(k, data.rows) largest inner products
// (ties towards the lower row), in no particular order: chosen.size() x min(k, data.rows)
// ids, row-major. Blocked matrix products on `threads` threads (0 = all); working memory
// O(threads * block * data block), whatever the sizes. Throws InvalidArgument if the
// dimensions differ, k is 0, or a chosen row is out of range.
std::vector<std::uint32_t> exact_top_k(MatrixView data, MatrixView queries, std::span<const std::size_t> chosen,
                                       std::size_t k, std::size_t threads);

}  // namespace quiver::quant
