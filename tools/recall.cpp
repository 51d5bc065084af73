#include "recall.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "quiver/error.h"

namespace quiver::cli {

IntMatrix hit_ids(const std::vector<std::vector<Hit>>& results, std::size_t k) {
  IntMatrix ids(results.size(), k);
  std::fill(ids.values.begin(), ids.values.end(), -1);
  for (std::size_t q = 0; q < results.size(); ++q) {
    for (std::size_t i = 0; i < std::min(k, results[q].size()); ++i) {
      ids.row(q)[i] = static_cast<std::int32_t>(results[q][i].id);
    }
  }
  return ids;
}

double recall_at_k(const std::vector<std::vector<Hit>>& results, IntMatrixView truth, std::size_t k) {
  if (truth.rows < results.size()) {
    throw InvalidArgument("ground truth has " + std::to_string(truth.rows) + " rows but there are " +
                          std::to_string(results.size()) + " queries");
  }
  if (truth.cols < k) {
    throw InvalidArgument("ground truth has " + std::to_string(truth.cols) +
                          " neighbours per query, fewer than k = " + std::to_string(k));
  }
  if (results.empty() || k == 0) return 0.0;
  std::size_t found = 0;
  std::vector<std::int32_t> expected(k);
  for (std::size_t q = 0; q < results.size(); ++q) {
    const auto row = truth.row(q);
    std::copy_n(row.begin(), k, expected.begin());
    std::sort(expected.begin(), expected.end());
    const std::size_t n = std::min(k, results[q].size());
    for (std::size_t i = 0; i < n; ++i) {
      const auto id = results[q][i].id;
      if (id <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()) &&
          std::binary_search(expected.begin(), expected.end(), static_cast<std::int32_t>(id))) {
        ++found;
      }
    }
  }
  return static_cast<double>(found) / static_cast<double>(results.size() * k);
}

}  // namespace quiver::cli
