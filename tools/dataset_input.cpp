#include "dataset_input.h"

#include <algorithm>
#include <cctype>

#include "quiver/error.h"
#include "quiver/vector_io.h"

namespace quiver::cli {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

template <typename T>
BasicMatrix<T> first_rows(BasicMatrix<T> m, std::size_t max_rows) {
  if (m.rows > max_rows) {
    m.rows = max_rows;
    m.values.resize(m.rows * m.cols);
  }
  return m;
}

}  // namespace

bool is_hdf5(const std::filesystem::path& path) {
  const std::string ext = lower(path.extension().string());
  return ext == ".hdf5" || ext == ".h5";
}

void require_file(const std::filesystem::path& path, const std::string& what) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    throw NotFound(what + " file '" + path.string() + "' does not exist");
  }
  if (std::filesystem::is_directory(status)) {
    throw InvalidArgument(what + " '" + path.string() + "' is a directory, expected a vector file");
  }
}

VectorInput read_vector_input(const std::filesystem::path& path, Hdf5Part part, std::size_t max_rows) {
  VectorInput input;
  if (!is_hdf5(path)) {
    input.vectors = read_vectors(path, max_rows);
    return input;
  }
  AnnDataset dataset = read_ann_hdf5(path);
  input.distance = dataset.distance;
  try {
    if (!dataset.distance.empty()) input.metric = parse_metric(dataset.distance);
  } catch (const InvalidArgument&) {
    // Left empty: only an error if the user gives no --metric either.
  }
  if (part == Hdf5Part::Train) {
    input.vectors = first_rows(std::move(dataset.train), max_rows);
  } else {
    input.vectors = first_rows(std::move(dataset.test), max_rows);
    input.neighbors = first_rows(std::move(dataset.neighbors), max_rows);
  }
  return input;
}

IntMatrix read_groundtruth(const std::filesystem::path& path, std::size_t max_rows) {
  if (!is_hdf5(path)) return read_int_vectors(path, max_rows);
  AnnDataset dataset = read_ann_hdf5(path);
  if (dataset.neighbors.rows == 0) {
    throw InvalidArgument("'" + path.string() + "' has no `neighbors` dataset to use as ground truth");
  }
  return first_rows(std::move(dataset.neighbors), max_rows);
}

}  // namespace quiver::cli
