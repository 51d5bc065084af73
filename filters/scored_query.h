// The filter's view of labelled search results: per query, similarities where larger is
// better (whatever the metric) and 0/1 labels. Every training and evaluation input passes
// through scored_queries(), which is where bad input is rejected.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "quiver/metric.h"
#include "quiver/relevance_filter.h"

namespace quiver::filters {

// Larger is better for every metric: the inner product or cosine as is, and for L2 the
// negated Euclidean distance -sqrt(d) (Hit::score is the squared distance; the root keeps
// the scale of the score linear in the vectors, which suits the linear map best).
double similarity(float hit_score, Metric metric);

struct ScoredQuery {
  std::vector<double> scores;  // similarity(hit.score), in the order the hits came
  std::vector<std::uint8_t> labels;
};

// Validates `data` (one hit list and one label list per query row, equal lengths, labels 0
// or 1, queries and scores finite) and converts it. Throws InvalidArgument naming the
// query, hit or component at fault. Single-class sets are not rejected here: evaluation may
// see one; training checks that itself.
std::vector<ScoredQuery> scored_queries(const RelevanceTrainingSet& data);

// Throws InvalidArgument if the query has a NaN or infinite component.
void check_query_finite(std::span<const float> query, const char* what);

}  // namespace quiver::filters
