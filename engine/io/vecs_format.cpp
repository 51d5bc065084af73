#include "engine/io/vecs_format.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine/io/atomic_file_writer.h"
#include "engine/io/binary_reader.h"
#include "engine/io/sizes.h"
#include "quiver/error.h"

namespace quiver::io {
namespace {

// Rows are read in blocks of about this many bytes: large enough for disk speed, small
// enough that the staging copy is negligible next to the matrix.
constexpr std::uint64_t kBlockBytes = std::uint64_t{8} << 20;

std::string dimension_mismatch(std::uint64_t row, std::int32_t dim, std::int32_t expected) {
  return "row " + std::to_string(row) + " declares dimension " + std::to_string(dim) +
         " but row 0 declared " + std::to_string(expected) + "; all rows must have the same dimension";
}

}  // namespace

template <typename Stored, typename Out>
BasicMatrix<Out> read_vecs(const std::filesystem::path& path, std::size_t max_rows) {
  BinaryReader in(path);
  if (in.size() == 0) return {};
  const std::int32_t dim = in.read_i32_le("the dimension of row 0");
  if (dim <= 0) {
    throw in.corrupt(0, "row 0 declares dimension " + std::to_string(dim) + "; expected a positive count");
  }
  // dim < 2^31, so no overflow here.
  const std::uint64_t row_bytes = sizeof(std::int32_t) + static_cast<std::uint64_t>(dim) * sizeof(Stored);
  const std::uint64_t whole_rows = in.size() / row_bytes;
  const std::uint64_t rows_in_file = whole_rows + (in.size() % row_bytes != 0 ? 1 : 0);
  const std::uint64_t wanted = std::min<std::uint64_t>(max_rows, rows_in_file);
  const std::uint64_t complete = std::min(wanted, whole_rows);

  // complete * row_bytes <= file size: the allocation is bounded by data that exists.
  BasicMatrix<Out> out(complete, static_cast<std::size_t>(dim));
  in.seek(0);
  const std::uint64_t rows_per_block = std::max<std::uint64_t>(1, kBlockBytes / row_bytes);
  std::vector<std::byte> block(std::min(complete, rows_per_block) * row_bytes);
  for (std::uint64_t first = 0; first < complete;) {
    const std::uint64_t count = std::min(rows_per_block, complete - first);
    in.read(std::span(block.data(), count * row_bytes), "rows");
    for (std::uint64_t r = 0; r < count; ++r) {
      const std::byte* row = block.data() + r * row_bytes;
      std::int32_t row_dim = 0;
      std::memcpy(&row_dim, row, sizeof(row_dim));
      if (row_dim != dim)
        throw in.corrupt((first + r) * row_bytes, dimension_mismatch(first + r, row_dim, dim));
      const std::byte* values = row + sizeof(std::int32_t);
      std::span<Out> target = out.row(first + r);
      if constexpr (std::is_same_v<Stored, Out>) {
        std::memcpy(target.data(), values, target.size_bytes());
      } else {
        for (std::size_t j = 0; j < target.size(); ++j) {
          Stored v;
          std::memcpy(&v, values + j * sizeof(Stored), sizeof(Stored));
          target[j] = static_cast<Out>(v);
        }
      }
    }
    first += count;
  }

  if (wanted > complete) {
    // The file ends inside row `complete`. A wrong dimension there is the more useful
    // diagnosis (it explains the odd size); otherwise the row is simply cut short.
    const std::uint64_t row_start = in.offset();
    const std::int32_t row_dim = in.read_i32_le("the dimension of row " + std::to_string(complete));
    if (row_dim != dim) throw in.corrupt(row_start, dimension_mismatch(complete, row_dim, dim));
    throw in.truncated("row " + std::to_string(complete) + " declares " + std::to_string(dim) + " " +
                       std::string(element_name<Stored>()) + " values (" +
                       std::to_string(row_bytes - sizeof(std::int32_t)) + " bytes) but only " +
                       std::to_string(in.remaining()) + " bytes remain");
  }
  return out;
}

template <typename T>
void write_vecs(const std::filesystem::path& path, BasicMatrixView<T> rows) {
  if (rows.cols > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw InvalidArgument(path.string() + ": dimension " + std::to_string(rows.cols) +
                          " does not fit the format's int32 row header");
  }
  AtomicFileWriter out(path);
  const auto dim = static_cast<std::int32_t>(rows.cols);
  for (std::size_t i = 0; i < rows.rows; ++i) {
    out.write_value(dim);
    out.write(std::as_bytes(rows.row(i)));
  }
  out.commit();
}

template Matrix read_vecs<float, float>(const std::filesystem::path&, std::size_t);
template Matrix read_vecs<std::uint8_t, float>(const std::filesystem::path&, std::size_t);
template IntMatrix read_vecs<std::int32_t, std::int32_t>(const std::filesystem::path&, std::size_t);
template void write_vecs<float>(const std::filesystem::path&, MatrixView);
template void write_vecs<std::int32_t>(const std::filesystem::path&, IntMatrixView);

}  // namespace quiver::io
