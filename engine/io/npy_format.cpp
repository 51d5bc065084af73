#include "engine/io/npy_format.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "engine/io/atomic_file_writer.h"
#include "engine/io/binary_reader.h"
#include "engine/io/npy_header.h"
#include "engine/io/sizes.h"

namespace quiver::io {
namespace {

// NumPy itself refuses headers over 10 kB when loading untrusted files; 1 MiB leaves
// room for odd writers while keeping a hostile length from allocating much.
constexpr std::uint32_t kMaxHeaderBytes = 1 << 20;

struct NpyArray {
  NpyHeader header;
  std::uint64_t header_offset = 0;  // where the dict text starts, for messages
};

NpyArray read_preamble(BinaryReader& in) {
  std::array<char, 8> magic{};
  in.read(std::as_writable_bytes(std::span(magic)), "the 8-byte npy preamble");
  if (std::memcmp(magic.data(), "\x93NUMPY", 6) != 0) {
    throw in.corrupt(0, "bad magic; an npy file starts with \\x93NUMPY");
  }
  const auto major = static_cast<unsigned>(static_cast<unsigned char>(magic[6]));
  const auto minor = static_cast<unsigned>(static_cast<unsigned char>(magic[7]));
  if (major < 1 || major > 3 || minor != 0) {
    throw in.corrupt(6, "npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                            " is not supported; expected 1.0, 2.0 or 3.0");
  }
  const std::uint32_t length =
      major == 1 ? in.read_u16_le("the npy header length") : in.read_u32_le("the npy header length");
  if (length > kMaxHeaderBytes) {
    throw in.corrupt(8, "npy header length " + std::to_string(length) + " exceeds " +
                            std::to_string(kMaxHeaderBytes) + " bytes");
  }
  NpyArray array;
  array.header_offset = in.offset();
  in.require(length, "the npy header");
  std::string text(length, '\0');
  in.read(std::as_writable_bytes(std::span(text)), "the npy header");
  array.header = parse_npy_header(text, in.path(), array.header_offset);

  const NpyHeader& h = array.header;
  if (h.fortran_order) {
    throw in.corrupt(array.header_offset,
                     "fortran_order is True; only C-order (row-major) arrays are supported");
  }
  if (h.shape.size() != 2) {
    throw in.corrupt(array.header_offset, "shape has " + std::to_string(h.shape.size()) +
                                              " dimensions; expected 2 (rows, dimension)");
  }
  if (h.shape[1] == 0)
    throw in.corrupt(array.header_offset, "shape's dimension is 0; expected a positive count");
  return array;
}

template <typename Stored, typename Out>
BasicMatrix<Out> read_body(BinaryReader& in, const NpyArray& array, std::size_t max_rows) {
  const std::uint64_t rows = array.header.shape[0];
  const std::uint64_t cols = array.header.shape[1];
  const std::uint64_t body = saturating_mul(rows, cols, sizeof(Stored));
  const std::string claim = "the header's " + std::to_string(rows) + " rows of " + std::to_string(cols) +
                            " " + std::string(element_name<Stored>()) + " values";
  in.require(body, claim);
  if (in.remaining() > body) {
    throw in.corrupt(in.offset() + body,
                     std::to_string(in.remaining() - body) + " unexpected bytes after " + claim);
  }
  BasicMatrix<Out> out(std::min<std::uint64_t>(rows, max_rows), cols);
  in.read_values<Stored>(std::span<Out>(out.values), "rows");
  return out;
}

[[noreturn]] void unsupported_dtype(const BinaryReader& in, const NpyArray& array,
                                    std::string_view expected) {
  throw in.corrupt(array.header_offset, "dtype '" + array.header.descr +
                                            "' is not supported here; expected " + std::string(expected));
}

}  // namespace

Matrix read_npy_vectors(const std::filesystem::path& path, std::size_t max_rows) {
  BinaryReader in(path);
  const NpyArray array = read_preamble(in);
  const std::string& dtype = array.header.descr;
  if (dtype == "<f4") return read_body<float, float>(in, array, max_rows);
  // A single byte has no byte order; NumPy writes '|u1' but some writers say '<u1'.
  if (dtype == "|u1" || dtype == "<u1") return read_body<std::uint8_t, float>(in, array, max_rows);
  unsupported_dtype(in, array, "'<f4' or '|u1'");
}

IntMatrix read_npy_ints(const std::filesystem::path& path, std::size_t max_rows) {
  BinaryReader in(path);
  const NpyArray array = read_preamble(in);
  if (array.header.descr == "<i4") return read_body<std::int32_t, std::int32_t>(in, array, max_rows);
  unsupported_dtype(in, array, "'<i4'");
}

template <typename T>
void write_npy(const std::filesystem::path& path, BasicMatrixView<T> rows) {
  AtomicFileWriter out(path);
  const std::string preamble =
      format_npy_preamble(std::is_same_v<T, float> ? "<f4" : "<i4", rows.rows, rows.cols);
  out.write(std::as_bytes(std::span(preamble)));
  out.write(std::as_bytes(std::span<const T>(rows.data, rows.rows * rows.cols)));
  out.commit();
}

template void write_npy<float>(const std::filesystem::path&, MatrixView);
template void write_npy<std::int32_t>(const std::filesystem::path&, IntMatrixView);

}  // namespace quiver::io
