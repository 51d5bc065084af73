#include "filters/scored_query.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "quiver/error.h"

namespace quiver::filters {

double similarity(float hit_score, Metric metric) {
  if (metric != Metric::L2) return hit_score;
  // Rounding can leave a self-match's squared distance slightly below zero.
  return -std::sqrt(std::max(0.0, static_cast<double>(hit_score)));
}

void check_query_finite(std::span<const float> query, const char* what) {
  for (std::size_t j = 0; j < query.size(); ++j) {
    if (!std::isfinite(query[j])) {
      throw InvalidArgument(std::string(what) + ", component " + std::to_string(j) + " is " +
                            (std::isnan(query[j]) ? "NaN" : "infinite") + ": queries must be finite");
    }
  }
}

std::vector<ScoredQuery> scored_queries(const RelevanceTrainingSet& data) {
  const std::size_t rows = data.queries.rows;
  if (rows == 0 || data.queries.cols == 0) {
    throw InvalidArgument("the relevance set has no queries (" + std::to_string(rows) + " rows of dimension " +
                          std::to_string(data.queries.cols) + ")");
  }
  if (data.hits.size() != rows) {
    throw InvalidArgument("the relevance set has " + std::to_string(rows) + " query rows but " +
                          std::to_string(data.hits.size()) + " hit lists: give one hit list per query");
  }
  if (data.labels.size() != rows) {
    throw InvalidArgument("the relevance set has " + std::to_string(rows) + " query rows but " +
                          std::to_string(data.labels.size()) + " label lists: give one label list per query");
  }
  std::vector<ScoredQuery> out(rows);
  for (std::size_t q = 0; q < rows; ++q) {
    const auto& hits = data.hits[q];
    const auto& labels = data.labels[q];
    if (labels.size() != hits.size()) {
      throw InvalidArgument("query " + std::to_string(q) + " has " + std::to_string(hits.size()) + " hits but " +
                            std::to_string(labels.size()) + " labels: give one 0/1 label per hit");
    }
    check_query_finite(data.queries.row(q), ("query " + std::to_string(q)).c_str());
    auto& scored = out[q];
    scored.scores.reserve(hits.size());
    for (std::size_t i = 0; i < hits.size(); ++i) {
      if (!std::isfinite(hits[i].score)) {
        throw InvalidArgument("query " + std::to_string(q) + ", hit " + std::to_string(i) + ": score is " +
                              (std::isnan(hits[i].score) ? "NaN" : "infinite") + ": scores must be finite");
      }
      if (labels[i] > 1) {
        throw InvalidArgument("query " + std::to_string(q) + ", hit " + std::to_string(i) + ": label " +
                              std::to_string(labels[i]) + " is not 0 (irrelevant) or 1 (relevant)");
      }
      scored.scores.push_back(similarity(hits[i].score, data.metric));
    }
    scored.labels = labels;
  }
  return out;
}

}  // namespace quiver::filters
