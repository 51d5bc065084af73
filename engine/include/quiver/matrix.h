// Row-major matrices of float vectors: a non-owning view that every API takes, and
// an owning matrix that readers return. One row is one vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace quiver {

template <typename T>
struct BasicMatrixView {
  const T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;

  std::span<const T> row(std::size_t i) const { return {data + i * cols, cols}; }
  bool empty() const { return rows == 0; }
  // Rows [first, first + count), clamped to the end.
  BasicMatrixView slice(std::size_t first, std::size_t count) const {
    if (first > rows) first = rows;
    if (count > rows - first) count = rows - first;
    return {data + first * cols, count, cols};
  }
};

template <typename T>
struct BasicMatrix {
  std::vector<T> values;
  std::size_t rows = 0;
  std::size_t cols = 0;

  BasicMatrix() = default;
  BasicMatrix(std::size_t r, std::size_t c) : values(r * c), rows(r), cols(c) {}

  std::span<T> row(std::size_t i) { return {values.data() + i * cols, cols}; }
  std::span<const T> row(std::size_t i) const { return {values.data() + i * cols, cols}; }
  BasicMatrixView<T> view() const { return {values.data(), rows, cols}; }
  operator BasicMatrixView<T>() const { return view(); }
};

using MatrixView = BasicMatrixView<float>;
using Matrix = BasicMatrix<float>;
// Neighbour lists (ground truth) and labels.
using IntMatrixView = BasicMatrixView<std::int32_t>;
using IntMatrix = BasicMatrix<std::int32_t>;

}  // namespace quiver
