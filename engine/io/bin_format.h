// fbin / ibin / u8bin (the big-ann-benchmarks format): a little-endian u32 row count
// and u32 dimension, then rows * dim values with no per-row framing.
#pragma once

#include <cstddef>
#include <filesystem>

#include "quiver/matrix.h"

namespace quiver::io {

// Stored: float (fbin), std::uint8_t (u8bin), std::int32_t (ibin). Out: float or int32.
template <typename Stored, typename Out>
BasicMatrix<Out> read_bin(const std::filesystem::path& path, std::size_t max_rows);

// T: float (fbin) or std::int32_t (ibin).
template <typename T>
void write_bin(const std::filesystem::path& path, BasicMatrixView<T> rows);

}  // namespace quiver::io
