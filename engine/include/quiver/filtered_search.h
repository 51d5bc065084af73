// Search restricted by a metadata filter expression. The expression is evaluated by the
// AttributeStore into an allowed-id set (cached); then the strategy follows its size:
//   - few allowed ids: score exactly those with Index::search_ids (a graph walk would
//     visit many rejected nodes for each admitted one, and exact scoring is cheap and
//     has perfect recall);
//   - otherwise: Index::search with the set as the filter inside the graph walk, with ef
//     raised for selective filters so that recall holds.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "quiver/allowed_ids.h"
#include "quiver/attribute_store.h"
#include "quiver/export.h"
#include "quiver/hit.h"
#include "quiver/index.h"
#include "quiver/search_params.h"

namespace quiver {

enum class FilterStrategy { Exact, Graph };

// "exact", "graph"
QUIVER_API std::string to_string(FilterStrategy strategy);

struct FilteredSearchOptions {
  // Exact scoring when the allowed ids are fewer than this fraction of the index, or
  // fewer than exact_max_ids, whichever admits more.
  double exact_fraction = 0.02;
  std::size_t exact_max_ids = 2000;
  // Graph path: ef is multiplied by sqrt(ef_boost_below / selectivity) when the
  // selectivity is below ef_boost_below, at most by max_ef_boost.
  double ef_boost_below = 0.2;
  double max_ef_boost = 4.0;
};

struct FilteredSearchResult {
  std::vector<Hit> hits;  // best first; fewer than k only when fewer ids are allowed
  FilterStrategy strategy = FilterStrategy::Exact;
  std::size_t allowed = 0;   // ids the filter admits (in the store, whether or not indexed)
  double selectivity = 0;    // allowed / index size, capped at 1
  std::size_t ef = 0;        // the ef the graph walk ran with (0 on the exact path)
};

// Evaluates `expression` with store.select and searches. Throws what select throws
// (InvalidArgument for bad syntax, unknown attributes, type mismatches) and what
// Index::search throws for a bad query or parameters.
QUIVER_API FilteredSearchResult filtered_search(const Index& index, const AttributeStore& store,
                                                std::span<const float> query, std::string_view expression,
                                                const SearchParams& params, const FilteredSearchOptions& options = {},
                                                SearchStats* stats = nullptr);

// The same with an already evaluated set (a batch of queries sharing one filter).
// params.filter is ignored: `allowed` takes its place.
QUIVER_API FilteredSearchResult filtered_search(const Index& index, const AllowedIds& allowed,
                                                std::span<const float> query, const SearchParams& params,
                                                const FilteredSearchOptions& options = {},
                                                SearchStats* stats = nullptr);

}  // namespace quiver
