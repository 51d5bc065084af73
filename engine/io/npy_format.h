// NumPy .npy arrays (versions 1.0, 2.0 and 3.0): 2-D, C order, little-endian float32 or
// uint8 for vectors and int32 for ids. Anything else is rejected with the dtype, order
// or shape named, rather than silently converted.
#pragma once

#include <cstddef>
#include <filesystem>

#include "quiver/matrix.h"

namespace quiver::io {

// Accepts '<f4' and '|u1' (widened).
Matrix read_npy_vectors(const std::filesystem::path& path, std::size_t max_rows);
// Accepts '<i4'.
IntMatrix read_npy_ints(const std::filesystem::path& path, std::size_t max_rows);

// Writes version 1.0 files: '<f4' for float, '<i4' for int32.
template <typename T>
void write_npy(const std::filesystem::path& path, BasicMatrixView<T> rows);

}  // namespace quiver::io
