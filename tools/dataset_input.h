// Loads the vector files the CLI is given, whatever their format: everything
// quiver::read_vectors knows by extension, plus ann-benchmarks HDF5 files, whose
// `train` (build) or `test` (search) set is used and whose `distance` attribute and
// `neighbors` ground truth come along.
#pragma once

#include <cstddef>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>

#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver::cli {

struct VectorInput {
  Matrix vectors;
  std::string distance;            // an HDF5 file's `distance` attribute, as written
  std::optional<Metric> metric;    // that attribute parsed, if quiver supports it
  IntMatrix neighbors;             // HDF5 ground truth for the `test` set; empty otherwise
};

enum class Hdf5Part { Train, Test };

inline constexpr std::size_t all_rows = std::numeric_limits<std::size_t>::max();

bool is_hdf5(const std::filesystem::path& path);

// Throws NotFound naming `path` and `what` ("input", "queries") if it is missing, and
// InvalidArgument if it is a directory.
void require_file(const std::filesystem::path& path, const std::string& what);

// Reads at most `max_rows` vectors from `path`. For HDF5, `part` chooses the set.
VectorInput read_vector_input(const std::filesystem::path& path, Hdf5Part part, std::size_t max_rows = all_rows);

// Ground-truth ids from .ivecs/.ibin/.npy, or the `neighbors` set of an HDF5 file.
IntMatrix read_groundtruth(const std::filesystem::path& path, std::size_t max_rows = all_rows);

}  // namespace quiver::cli
