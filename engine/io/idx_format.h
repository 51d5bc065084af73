// IDX (the MNIST / Fashion-MNIST format): a big-endian magic 0x0000TTNN (TT element
// type, NN dimension count), NN big-endian u32 sizes, then the raw values. Only u8
// data exists in practice and only u8 is accepted. The files usually ship gzipped.
#pragma once

#include <cstddef>
#include <filesystem>

#include "quiver/matrix.h"

namespace quiver::io {

enum class IdxCompression { none, gzip };

// Images (two or more dimensions): one row per item, the remaining dimensions
// flattened (28 x 28 -> 784), u8 widened to float.
Matrix read_idx_vectors(const std::filesystem::path& path, IdxCompression compression, std::size_t max_rows);

// Labels (one dimension) as a single int column; more dimensions are flattened per row.
IntMatrix read_idx_ints(const std::filesystem::path& path, IdxCompression compression, std::size_t max_rows);

}  // namespace quiver::io
