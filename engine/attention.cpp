#include "quiver/attention.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "quiver/error.h"

namespace quiver {
namespace {

void validate(const Index& keys, MatrixView queries, MatrixView values, const AttentionParams& params) {
  const std::string where = "sparse_attention: ";
  const IndexSpec& spec = keys.spec();
  if (spec.metric != Metric::InnerProduct) {
    throw InvalidArgument(where + "the key index uses metric " + to_string(spec.metric) +
                          "; attention scores are inner products (metric ip)");
  }
  if (queries.cols != spec.dim) {
    throw InvalidArgument(where + "queries have dimension " + std::to_string(queries.cols) + ", the keys " +
                          std::to_string(spec.dim));
  }
  if (params.k == 0) throw InvalidArgument(where + "k must be at least 1");
  if (!(std::isfinite(params.scale) && params.scale >= 0.0f)) {
    throw InvalidArgument(where + "scale " + std::to_string(params.scale) +
                          " must be finite and >= 0 (0 = 1/sqrt(dim))");
  }
  if (values.rows == 0 || values.cols == 0) {
    throw InvalidArgument(where + "values are " + std::to_string(values.rows) + " x " + std::to_string(values.cols) +
                          "; expected one non-empty row per key id");
  }
  for (std::size_t q = 0; q < queries.rows; ++q) {
    const auto row = queries.row(q);
    if (!std::all_of(row.begin(), row.end(), [](float v) { return std::isfinite(v); })) {
      throw InvalidArgument(where + "query row " + std::to_string(q) + " holds a NaN or infinite value");
    }
  }
}

}  // namespace

AttentionResult sparse_attention(const Index& keys, MatrixView queries, MatrixView values,
                                 const AttentionParams& params) {
  validate(keys, queries, values, params);
  SearchParams search;
  search.k = params.k;
  search.ef = params.ef != 0 ? params.ef : std::max<std::size_t>(64, 2 * params.k);
  AttentionResult result;
  result.hits = keys.search_batch(queries, search, params.threads);
  result.output = Matrix(queries.rows, values.cols);
  const double scale =
      params.scale > 0.0f ? double{params.scale} : 1.0 / std::sqrt(static_cast<double>(keys.spec().dim));
  std::vector<double> weights;
  std::vector<double> mixed(values.cols);
  for (std::size_t q = 0; q < queries.rows; ++q) {
    const std::vector<Hit>& hits = result.hits[q];
    if (hits.empty()) continue;
    for (const Hit& hit : hits) {
      if (hit.id >= values.rows) {
        throw InvalidArgument("sparse_attention: key id " + std::to_string(hit.id) + " has no value row (values have " +
                              std::to_string(values.rows) + " rows)");
      }
    }
    // Shifted by the largest score so that exp never overflows; the shift cancels in the ratio.
    double top = hits.front().score;
    for (const Hit& hit : hits) top = std::max(top, double{hit.score});
    weights.resize(hits.size());
    double total = 0;
    for (std::size_t j = 0; j < hits.size(); ++j) {
      weights[j] = std::exp(scale * (hits[j].score - top));
      total += weights[j];
    }
    std::fill(mixed.begin(), mixed.end(), 0.0);
    for (std::size_t j = 0; j < hits.size(); ++j) {
      const auto value = values.row(hits[j].id);
      for (std::size_t c = 0; c < values.cols; ++c) mixed[c] += weights[j] * value[c];
    }
    const auto out = result.output.row(q);
    for (std::size_t c = 0; c < values.cols; ++c) out[c] = static_cast<float>(mixed[c] / total);
  }
  return result;
}

}  // namespace quiver
