#include "quiver/filtered_search.h"

#include <algorithm>
#include <cmath>

#include "quiver/error.h"

namespace quiver {

std::string to_string(FilterStrategy strategy) { return strategy == FilterStrategy::Exact ? "exact" : "graph"; }

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
    result.hits = index.search_ids(query, present, params.k, stats);
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
