// The data one benchmark run searches, loaded from a named set (fashion-mnist,
// glove-100, attn-pylm-l3h0) or from files in any format quiver's readers know.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver::bench {

struct Dataset {
  std::string name;  // as reported in the JSON, e.g. "fashion-mnist-784-euclidean"
  Metric metric = Metric::L2;
  Matrix base;
  Matrix queries;
  Matrix train_queries;    // sample queries for OOD training; empty if none
  IntMatrix ground_truth;  // exact neighbour ids, best first, one row per query; empty if none
};

struct DatasetRequest {
  std::string name_or_path;
  std::optional<std::filesystem::path> queries;
  std::optional<std::filesystem::path> train_queries;
  std::optional<std::filesystem::path> ground_truth;
  std::optional<Metric> metric;  // overrides the set's own metric
  std::filesystem::path cache_dir;
};

// Throws InvalidArgument for an unknown name (listing the known ones), for a path
// without the queries or metric it needs, and for mismatched dimensions or row counts.
Dataset load_dataset(const DatasetRequest& request);

std::vector<std::string> known_dataset_names();

// Keeps the first `max_queries` queries (and their ground-truth rows), for short runs.
void limit_queries(Dataset& data, std::size_t max_queries);

// Keeps the first `max_train_queries` sample queries: how the specs that learn from
// queries do with fewer of them.
void limit_train_queries(Dataset& data, std::size_t max_train_queries);

}  // namespace quiver::bench
