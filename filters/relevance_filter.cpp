// quiver::RelevanceFilter, the public face of filters/: validates what callers pass and
// delegates to the Cosine Adapter.
#include "quiver/relevance_filter.h"

#include <cmath>
#include <string>
#include <utility>

#include "filters/adapter_training.h"
#include "filters/filter_model.h"
#include "filters/filter_model_file.h"
#include "filters/scored_query.h"
#include "quiver/error.h"

namespace quiver {

std::string to_string(RelevanceMap map) {
  switch (map) {
    case RelevanceMap::Linear:
      return "linear";
    case RelevanceMap::Power:
      return "power";
    case RelevanceMap::Quadratic:
      return "quadratic";
  }
  return "unknown";
}

RelevanceMap parse_relevance_map(std::string_view text) {
  if (text == "linear") return RelevanceMap::Linear;
  if (text == "power") return RelevanceMap::Power;
  if (text == "quadratic") return RelevanceMap::Quadratic;
  throw InvalidArgument("unknown relevance map '" + std::string(text) + "': expected linear, power or quadratic");
}

struct RelevanceFilter::Impl {
  filters::FilterModel model;
};

RelevanceFilter::RelevanceFilter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RelevanceFilter::RelevanceFilter(const RelevanceFilter& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
RelevanceFilter& RelevanceFilter::operator=(const RelevanceFilter& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
RelevanceFilter::RelevanceFilter(RelevanceFilter&&) noexcept = default;
RelevanceFilter& RelevanceFilter::operator=(RelevanceFilter&&) noexcept = default;
RelevanceFilter::~RelevanceFilter() = default;

RelevanceFilter RelevanceFilter::train(const RelevanceTrainingSet& data, const RelevanceOptions& options) {
  const auto scored = filters::scored_queries(data);
  RelevanceTrainingSummary summary;
  filters::CosineAdapter adapter = filters::train_cosine_adapter(data.queries, scored, data.metric, options, summary);
  return RelevanceFilter(std::make_unique<Impl>(Impl{{std::move(adapter), options, summary, data.provenance}}));
}

RelevanceFilter RelevanceFilter::load(const std::filesystem::path& path) {
  return RelevanceFilter(std::make_unique<Impl>(Impl{filters::load_filter_model(path)}));
}

void RelevanceFilter::save(const std::filesystem::path& path) const { filters::save_filter_model(impl_->model, path); }

std::vector<float> RelevanceFilter::relevance(std::span<const float> query, const std::vector<Hit>& hits,
                                              Metric metric) const {
  const filters::CosineAdapter& adapter = impl_->model.adapter;
  if (metric != adapter.metric()) {
    throw InvalidArgument("the relevance filter was trained on " + to_string(adapter.metric()) + " scores, but the hits are " +
                          to_string(metric) + " scores: train a filter for this metric");
  }
  if (query.size() != adapter.dim()) {
    throw InvalidArgument("query has " + std::to_string(query.size()) + " dimensions but the relevance filter expects " +
                          std::to_string(adapter.dim()));
  }
  filters::check_query_finite(query, "query");
  std::vector<double> similarities(hits.size());
  for (std::size_t i = 0; i < hits.size(); ++i) {
    if (!std::isfinite(hits[i].score)) {
      throw InvalidArgument("hit " + std::to_string(i) + " (id " + std::to_string(hits[i].id) + ") has a " +
                            (std::isnan(hits[i].score) ? "NaN" : "infinite") + " score");
    }
    similarities[i] = filters::similarity(hits[i].score, metric);
  }
  const std::vector<double> probabilities = adapter.relevance(query, similarities);
  return {probabilities.begin(), probabilities.end()};
}

std::vector<Hit> RelevanceFilter::filter(std::span<const float> query, const std::vector<Hit>& hits, Metric metric,
                                         float threshold) const {
  if (!(threshold >= 0.0f && threshold <= 1.0f)) {
    throw InvalidArgument("relevance threshold " + std::to_string(threshold) +
                          " is outside [0, 1]: it is a probability of relevance");
  }
  const std::vector<float> r = relevance(query, hits, metric);
  std::vector<Hit> kept;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    if (r[i] >= threshold) kept.push_back(hits[i]);
  }
  return kept;
}

Metric RelevanceFilter::metric() const { return impl_->model.adapter.metric(); }
std::size_t RelevanceFilter::dim() const { return impl_->model.adapter.dim(); }
std::size_t RelevanceFilter::training_k() const { return impl_->model.adapter.training_k(); }
const RelevanceOptions& RelevanceFilter::options() const { return impl_->model.options; }
const RelevanceTrainingSummary& RelevanceFilter::training_summary() const { return impl_->model.summary; }
const std::string& RelevanceFilter::provenance() const { return impl_->model.provenance; }

}  // namespace quiver
