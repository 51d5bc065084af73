#include "engine/io/bin_format.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "engine/io/atomic_file_writer.h"
#include "engine/io/binary_reader.h"
#include "engine/io/sizes.h"
#include "quiver/error.h"

namespace quiver::io {

template <typename Stored, typename Out>
BasicMatrix<Out> read_bin(const std::filesystem::path& path, std::size_t max_rows) {
  BinaryReader in(path);
  const std::uint32_t rows = in.read_u32_le("the row count in the 8-byte header");
  const std::uint32_t dim = in.read_u32_le("the dimension in the 8-byte header");
  if (dim == 0) throw in.corrupt(4, "dimension is 0; expected a positive count");
  const std::uint64_t body = saturating_mul(rows, dim, sizeof(Stored));
  const std::string claim = "the header's " + std::to_string(rows) + " rows of " + std::to_string(dim) + " " +
                            std::string(element_name<Stored>()) + " values";
  // Checked against the whole file even when max_rows reads fewer: fstat is free, and a
  // size mismatch means the header or the extension is wrong.
  in.require(body, claim);
  if (in.remaining() > body)
    throw in.corrupt(in.offset() + body,
                     std::to_string(in.remaining() - body) + " unexpected bytes after " + claim);
  BasicMatrix<Out> out(std::min<std::size_t>(rows, max_rows), dim);
  in.read_values<Stored>(std::span<Out>(out.values), "rows");
  return out;
}

template <typename T>
void write_bin(const std::filesystem::path& path, BasicMatrixView<T> rows) {
  constexpr std::size_t kMax = std::numeric_limits<std::uint32_t>::max();
  if (rows.rows > kMax || rows.cols > kMax) {
    throw InvalidArgument(path.string() + ": " + std::to_string(rows.rows) + " x " +
                          std::to_string(rows.cols) +
                          " does not fit the format's u32 row count and dimension");
  }
  AtomicFileWriter out(path);
  out.write_value(static_cast<std::uint32_t>(rows.rows));
  out.write_value(static_cast<std::uint32_t>(rows.cols));
  out.write(std::as_bytes(std::span<const T>(rows.data, rows.rows * rows.cols)));
  out.commit();
}

template Matrix read_bin<float, float>(const std::filesystem::path&, std::size_t);
template Matrix read_bin<std::uint8_t, float>(const std::filesystem::path&, std::size_t);
template IntMatrix read_bin<std::int32_t, std::int32_t>(const std::filesystem::path&, std::size_t);
template void write_bin<float>(const std::filesystem::path&, MatrixView);
template void write_bin<std::int32_t>(const std::filesystem::path&, IntMatrixView);

}  // namespace quiver::io
