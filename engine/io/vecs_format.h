// fvecs / ivecs / bvecs (the TEXMEX corpus format: SIFT, GIST, BIGANN): every row is an
// int32 dimension followed by that many values, and all rows share one dimension.
#pragma once

#include <cstddef>
#include <filesystem>

#include "quiver/matrix.h"

namespace quiver::io {

// Stored: float (fvecs), std::uint8_t (bvecs), std::int32_t (ivecs). Out: float or int32.
template <typename Stored, typename Out>
BasicMatrix<Out> read_vecs(const std::filesystem::path& path, std::size_t max_rows);

// T: float (fvecs) or std::int32_t (ivecs).
template <typename T>
void write_vecs(const std::filesystem::path& path, BasicMatrixView<T> rows);

}  // namespace quiver::io
