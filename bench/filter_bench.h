// quiver-bench --filter-selectivities: filtered search (metadata filter expression ->
// allowed ids -> exact scoring or a filtered graph walk, see quiver/filtered_search.h)
// against exact filtered ground truth, one selectivity at a time, plus the unfiltered
// search on the same index as the reference. quiver only: the peers have no metadata
// filter with the same semantics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "bench/dataset.h"
#include "quiver/index_spec.h"

namespace quiver::bench {

struct FilterBenchOptions {
  std::vector<double> selectivities;  // each in (0, 1]
  std::vector<std::size_t> efs;
  std::size_t k = 10;
  std::size_t reps = 1;
  std::size_t threads = 0;         // build and ground truth; searches run on one thread
  std::uint64_t seed = 42;         // the random attributes
};

struct FilterPoint {
  double selectivity = 1.0;  // the requested fraction; 1 with no filter
  bool filtered = false;
  std::string expression;
  std::size_t allowed = 0;   // ids the expression admits
  std::string strategy;      // "exact", "graph" (the one most queries took), "unfiltered"
  std::size_t ef = 0;        // requested ef
  double recall = 0;
  double qps = 0;            // single thread, best of reps
  double select_ms = 0;      // first (uncached) evaluation of the expression
};

std::vector<FilterPoint> run_filter_bench(const Dataset& data, const IndexSpec& spec, const FilterBenchOptions& options,
                                          std::ostream& log);
void print_filter_table(std::ostream& out, const std::string& dataset, std::size_t k,
                        const std::vector<FilterPoint>& points);
// Adds a "filtered" array (one entry per point, with "filter_selectivity") to the JSON
// document at `path`, creating the document when it does not exist.
void add_filter_json(const std::filesystem::path& path, const std::string& dataset, std::size_t k,
                     const std::vector<FilterPoint>& points);

}  // namespace quiver::bench
