// Readers and writers for the vector file formats ANN users already have: fvecs /
// ivecs / bvecs, fbin / ibin / u8bin, IDX (optionally gzip-compressed, as Fashion-MNIST
// ships), npy (C order) and ann-benchmarks HDF5. Every reader checks each length
// against the file's size and throws CorruptFile naming the file and byte offset
// instead of reading out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>

#include "quiver/export.h"
#include "quiver/matrix.h"

namespace quiver {

// Reads float vectors, choosing the format by extension: .fvecs, .bvecs (u8 widened),
// .fbin, .u8bin (u8 widened), .npy (float32 or uint8), .idx / -ubyte / .gz (IDX images,
// u8 widened, one row per image). At most `max_rows` rows are read.
QUIVER_API Matrix read_vectors(const std::filesystem::path& path,
                    std::size_t max_rows = std::numeric_limits<std::size_t>::max());

// Reads integer rows (ground-truth neighbour ids): .ivecs, .ibin, .npy (int32),
// or IDX labels (.gz / -ubyte, one column).
QUIVER_API IntMatrix read_int_vectors(const std::filesystem::path& path,
                           std::size_t max_rows = std::numeric_limits<std::size_t>::max());

// Writes by extension: .fvecs, .fbin, .npy. Written to a temp file, fsynced, renamed.
QUIVER_API void write_vectors(const std::filesystem::path& path, MatrixView vectors);
// Writes by extension: .ivecs, .ibin, .npy.
QUIVER_API void write_int_vectors(const std::filesystem::path& path, IntMatrixView vectors);

// An ann-benchmarks HDF5 file: datasets train, test, neighbors, distances and the
// root attribute `distance` ("euclidean", "angular", "dot", ...).
struct AnnDataset {
  Matrix train;
  Matrix test;
  IntMatrix neighbors;  // empty if the file has none
  Matrix distances;     // empty if the file has none
  std::string distance;
};

QUIVER_API AnnDataset read_ann_hdf5(const std::filesystem::path& path);

}  // namespace quiver
