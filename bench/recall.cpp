#include "bench/recall.h"

#include <algorithm>
#include <cmath>

#include "bench/vector_math.h"
#include "quiver/error.h"

namespace quiver::bench {

namespace {
constexpr double relative_tolerance = 1e-3;
}  // namespace

RecallScorer::RecallScorer(const Dataset& data, IntMatrixView truth)
    : data_(data), k_(truth.cols), thresholds_(truth.rows) {
  if (truth.rows != data.queries.rows || truth.cols == 0) {
    throw InvalidArgument("ground truth has " + std::to_string(truth.rows) + "x" + std::to_string(truth.cols) +
                          " ids; expected one row per query (" + std::to_string(data.queries.rows) + ")");
  }
  for (std::size_t q = 0; q < truth.rows; ++q) {
    const std::int32_t kth = truth.row(q)[k_ - 1];
    if (kth < 0 || static_cast<std::size_t>(kth) >= data.base.rows) {
      throw CorruptFile("ground truth id " + std::to_string(kth) + " of query " + std::to_string(q) +
                        " is outside the " + std::to_string(data.base.rows) + " base vectors");
    }
    const double d = exact_distance(data.metric, data.queries.row(q), data.base.row(static_cast<std::size_t>(kth)));
    thresholds_[q] = d + relative_tolerance * std::abs(d);
  }
}

double RecallScorer::recall(std::span<const std::int64_t> ids) const {
  const std::size_t nq = thresholds_.size();
  std::size_t found = 0;
  for (std::size_t q = 0; q < nq; ++q) {
    const auto row = ids.subspan(q * k_, k_);
    for (std::size_t j = 0; j < k_; ++j) {
      const std::int64_t id = row[j];
      if (id < 0 || static_cast<std::size_t>(id) >= data_.base.rows) continue;
      if (std::find(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(j), id) != row.begin() + static_cast<std::ptrdiff_t>(j)) {
        continue;
      }
      const double d = exact_distance(data_.metric, data_.queries.row(q), data_.base.row(static_cast<std::size_t>(id)));
      if (d <= thresholds_[q]) ++found;
    }
  }
  return static_cast<double>(found) / static_cast<double>(nq * k_);
}

}  // namespace quiver::bench
