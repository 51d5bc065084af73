#include "bench/recall.h"

#include <algorithm>
#include <cmath>

#include "bench/vector_math.h"
#include "quiver/error.h"

namespace quiver::bench {

namespace {
constexpr double relative_tolerance = 1e-3;
constexpr std::size_t top = 10;

// The largest distance that counts as one of query q's first rank + 1 neighbours.
double threshold_at(const Dataset& data, IntMatrixView truth, std::size_t q, std::size_t rank) {
  const std::int32_t id = truth.row(q)[rank];
  if (id < 0 || static_cast<std::size_t>(id) >= data.base.rows) {
    throw CorruptFile("ground truth id " + std::to_string(id) + " of query " + std::to_string(q) +
                      " is outside the " + std::to_string(data.base.rows) + " base vectors");
  }
  const double d = exact_distance(data.metric, data.queries.row(q), data.base.row(static_cast<std::size_t>(id)));
  return d + relative_tolerance * std::abs(d);
}
}  // namespace

RecallScorer::RecallScorer(const Dataset& data, IntMatrixView truth)
    : data_(data), k_(truth.cols), thresholds_(truth.rows) {
  if (truth.rows != data.queries.rows || truth.cols == 0) {
    throw InvalidArgument("ground truth has " + std::to_string(truth.rows) + "x" + std::to_string(truth.cols) +
                          " ids; expected one row per query (" + std::to_string(data.queries.rows) + ")");
  }
  for (std::size_t q = 0; q < truth.rows; ++q) {
    thresholds_[q] = threshold_at(data, truth, q, k_ - 1);
  }
  if (k_ > top) {
    top10_thresholds_.resize(truth.rows);
    for (std::size_t q = 0; q < truth.rows; ++q) top10_thresholds_[q] = threshold_at(data, truth, q, top - 1);
  }
}

double RecallScorer::recall(std::span<const std::int64_t> ids) const { return share_within(ids, thresholds_, k_); }

std::optional<double> RecallScorer::top10_recall(std::span<const std::int64_t> ids) const {
  if (top10_thresholds_.empty()) return std::nullopt;
  return share_within(ids, top10_thresholds_, top);
}

// Of the `wanted` true neighbours per query, the share among its k returned ids: a
// returned id counts when it is within the query's threshold (at most `wanted` per query,
// so ties beyond the top `wanted` cannot lift the share above 1).
double RecallScorer::share_within(std::span<const std::int64_t> ids, const std::vector<double>& thresholds,
                                  std::size_t wanted) const {
  const std::size_t nq = thresholds.size();
  std::size_t found = 0;
  for (std::size_t q = 0; q < nq; ++q) {
    const auto row = ids.subspan(q * k_, k_);
    std::size_t in_row = 0;
    for (std::size_t j = 0; j < k_; ++j) {
      const std::int64_t id = row[j];
      if (id < 0 || static_cast<std::size_t>(id) >= data_.base.rows) continue;
      if (std::find(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(j), id) != row.begin() + static_cast<std::ptrdiff_t>(j)) {
        continue;
      }
      const double d = exact_distance(data_.metric, data_.queries.row(q), data_.base.row(static_cast<std::size_t>(id)));
      if (d <= thresholds[q]) ++in_row;
    }
    found += std::min(in_row, wanted);
  }
  return static_cast<double>(found) / static_cast<double>(nq * wanted);
}

}  // namespace quiver::bench
