// Relevance from class membership, the label rule of data sets such as Fashion-MNIST where
// "relevant" means "same category": reading class labels and labelling search results.
#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "quiver/error.h"
#include "quiver/exact_search.h"
#include "quiver/relevance_filter.h"
#include "quiver/vector_io.h"

namespace quiver {
namespace {

std::vector<std::int32_t> read_text_labels(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw NotFound("labels file '" + path.string() + "' does not exist");
  std::ifstream in(path);
  if (!in) throw IoError("cannot open labels file '" + path.string() + "'");
  std::vector<std::int32_t> labels;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;  // blank lines, e.g. a trailing one
    const auto last = line.find_last_not_of(" \t\r");
    std::int32_t value = 0;
    const auto [end, error] = std::from_chars(line.data() + first, line.data() + last + 1, value);
    if (error != std::errc() || end != line.data() + last + 1) {
      throw CorruptFile("labels file '" + path.string() + "', line " + std::to_string(number) + ": '" + line +
                        "' is not one integer");
    }
    labels.push_back(value);
  }
  return labels;
}

}  // namespace

std::vector<std::int32_t> read_labels(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".txt" || ext == ".csv") return read_text_labels(path);
  const IntMatrix labels = read_int_vectors(path);
  if (labels.cols != 1) {
    throw InvalidArgument("labels file '" + path.string() + "' has " + std::to_string(labels.cols) +
                          " columns per row; expected one class label per row");
  }
  return labels.values;
}

RelevanceTrainingSet label_by_class(MatrixView base, std::span<const std::int32_t> base_classes, MatrixView queries,
                                    std::span<const std::int32_t> query_classes, std::size_t k, Metric metric,
                                    std::size_t threads) {
  if (base_classes.size() != base.rows) {
    throw InvalidArgument(std::to_string(base_classes.size()) + " base labels for " + std::to_string(base.rows) +
                          " base vectors: give one label per vector");
  }
  if (query_classes.size() != queries.rows) {
    throw InvalidArgument(std::to_string(query_classes.size()) + " query labels for " + std::to_string(queries.rows) +
                          " queries: give one label per query");
  }
  RelevanceTrainingSet set;
  set.queries = queries;
  set.metric = metric;
  set.hits = exact_search(base, queries, k, metric, threads);
  set.labels.resize(set.hits.size());
  for (std::size_t q = 0; q < set.hits.size(); ++q) {
    for (const Hit& hit : set.hits[q]) set.labels[q].push_back(base_classes[hit.id] == query_classes[q] ? 1 : 0);
  }
  return set;
}

}  // namespace quiver
