#include "quiver/filtered_search.h"

#include <algorithm>
#include <cmath>

#include "quiver/error.h"
#include "quiver/relevance_filter.h"

namespace quiver {

std::string to_string(FilterStrategy strategy) { return strategy == FilterStrategy::Exact ? "exact" : "graph"; }

namespace {

// The exact path's answer with the same relevance semantics as Index::search: the
// index's relevance filter reads the top training_k() list (here: of the allowed ids),
// sets Hit::relevance, and params.min_relevance cuts the first k.
std::vector<Hit> exact_with_relevance(const Index& index, std::span<const float> query,
                                      std::span<const std::uint64_t> ids, const SearchParams& params,
                                      SearchStats* stats) {
  if (!(params.min_relevance >= 0.0f && params.min_relevance <= 1.0f)) {
    throw InvalidArgument("min_relevance = " + std::to_string(params.min_relevance) +
                          " is outside [0, 1]: it is a probability of relevance");
  }
  const auto relevance = index.relevance_filter();
  if (relevance == nullptr) {
    if (params.min_relevance > 0.0f) {
      throw InvalidArgument("min_relevance = " + std::to_string(params.min_relevance) +
                            " needs a relevance filter, but none is attached to the index: attach one with "
                            "set_relevance_filter or leave min_relevance at 0");
    }
    return index.search_ids(query, ids, params.k, stats, Index::UnknownIds::Skip);
  }
  auto hits = index.search_ids(query, ids, std::max(params.k, relevance->training_k()), stats,
                               Index::UnknownIds::Skip);
  auto probabilities = relevance->relevance(query, hits, index.spec().metric);
  for (std::size_t i = 0; i < hits.size(); ++i) hits[i].relevance = probabilities[i];
  if (hits.size() > params.k) hits.resize(params.k);
  std::erase_if(hits, [&](const Hit& hit) { return hit.relevance < params.min_relevance; });
  return hits;
}

}  // namespace

FilteredSearchResult filtered_search(const Index& index, const AttributeStore& store, std::span<const float> query,
                                     std::string_view expression, const SearchParams& params,
                                     const FilteredSearchOptions& options, SearchStats* stats) {
  auto allowed = store.select(expression);
  return filtered_search(index, *allowed, query, params, options, stats);
}

FilteredSearchResult filtered_search(const Index& index, const AllowedIds& allowed, std::span<const float> query,
                                     const SearchParams& params, const FilteredSearchOptions& options,
                                     SearchStats* stats) {
  if (!(options.exact_fraction >= 0) || !(options.ef_boost_below > 0) || !(options.max_ef_boost >= 1)) {
    throw InvalidArgument("filtered search options: exact_fraction must be >= 0, ef_boost_below > 0 and "
                          "max_ef_boost >= 1");
  }
  FilteredSearchResult result;
  result.allowed = allowed.size();
  std::size_t indexed = index.size();
  // The exact set size is known (the selection is materialised and cached), so the
  // "estimate" is the true fraction, up to ids the store has but the index lacks.
  result.selectivity = indexed == 0 ? 0.0 : std::min(1.0, static_cast<double>(allowed.size()) / static_cast<double>(indexed));

  bool exact = static_cast<double>(allowed.size()) < options.exact_fraction * static_cast<double>(indexed) ||
               allowed.size() < options.exact_max_ids;
  if (exact) {
    result.strategy = FilterStrategy::Exact;
    // Attributes may outlive their vectors (removed, or never added): only indexed ids
    // are scored.
    std::vector<std::uint64_t> present;
    present.reserve(allowed.size());
    for (auto id : allowed.ids()) {
      if (index.contains(id)) present.push_back(id);
    }
    if (params.k == 0) throw InvalidArgument("k = 0: ask for at least one result");
    result.hits = exact_with_relevance(index, query, present, params, stats);
    return result;
  }

  result.strategy = FilterStrategy::Graph;
  SearchParams walk = params;
  walk.filter = &allowed;
  if (result.selectivity < options.ef_boost_below) {
    // The filtered walk keeps going until it holds ef admitted nodes, but it stops once
    // no frontier node is closer than the worst of them; with few admitted nodes per
    // neighbourhood that stop comes early, so a wider window buys the recall back.
    double boost = std::min(options.max_ef_boost, std::sqrt(options.ef_boost_below / result.selectivity));
    walk.ef = static_cast<std::size_t>(std::ceil(static_cast<double>(params.ef) * boost));
    if (walk.buffer != 0) walk.buffer = std::max(walk.buffer, walk.ef);
  }
  result.ef = walk.ef;
  result.hits = index.search(query, walk, stats);
  return result;
}

}  // namespace quiver
