#include "engine/io/idx_format.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/io/binary_reader.h"
#include "engine/io/gzip_reader.h"
#include "engine/io/sizes.h"

namespace quiver::io {
namespace {

constexpr std::uint8_t kUnsignedByte = 0x08;

// A gzip stream's length is unknown until it ends, so its header cannot be checked
// against the file size. This caps what a header may claim (8 GiB of float output);
// buffers then grow only with the data that actually arrives.
constexpr std::uint64_t kMaxGzipValues = std::uint64_t{1} << 31;
constexpr std::uint64_t kGzipFirstBlockBytes = std::uint64_t{1} << 20;
constexpr std::uint64_t kGzipBlockBytes = std::uint64_t{16} << 20;
// Deflate's best case (runs of one byte) is about 1032:1; no gzip file holds more.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

struct IdxShape {
  std::uint64_t rows = 0;
  std::uint64_t cols = 0;  // product of all dimensions after the first; saturated
  unsigned dims = 0;
};

std::string hex32(std::uint32_t value) {
  std::array<char, 11> text{};
  std::snprintf(text.data(), text.size(), "0x%08x", value);
  return text.data();
}

template <class Reader>
std::uint32_t read_u32_be(Reader& in, std::string_view what) {
  std::array<std::uint8_t, 4> b{};
  in.read(std::as_writable_bytes(std::span(b)), what);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

template <class Reader>
IdxShape read_header(Reader& in) {
  const std::uint32_t magic = read_u32_be(in, "the 4-byte IDX magic");
  if ((magic >> 16) != 0) {
    throw in.corrupt(0, "bad magic " + hex32(magic) +
                            "; an IDX file starts with 0x0000 then a type byte and a dimension count "
                            "(0x00000803 for u8 images, 0x00000801 for u8 labels)");
  }
  const auto type = static_cast<std::uint8_t>(magic >> 8);
  if (type != kUnsignedByte) {
    throw in.corrupt(2,
                     "IDX element type " + hex32(type) + " is not supported; only unsigned bytes (0x08) are");
  }
  IdxShape shape;
  shape.dims = magic & 0xff;
  if (shape.dims == 0) throw in.corrupt(3, "IDX dimension count is 0");
  shape.rows = read_u32_be(in, "IDX dimension 0");
  shape.cols = 1;
  for (unsigned d = 1; d < shape.dims; ++d) {
    const std::uint64_t at = in.offset();
    const std::uint32_t size = read_u32_be(in, "IDX dimension " + std::to_string(d));
    if (size == 0) throw in.corrupt(at, "IDX dimension " + std::to_string(d) + " is 0");
    shape.cols = saturating_mul(shape.cols, size);
  }
  return shape;
}

std::string describe(const IdxShape& shape) {
  return "the header's " + std::to_string(shape.rows) + " rows of " + std::to_string(shape.cols) +
         " uint8 values";
}

template <typename Out>
BasicMatrix<Out> read_plain(const std::filesystem::path& path, std::size_t max_rows, unsigned min_dims) {
  BinaryReader in(path);
  const IdxShape shape = read_header(in);
  if (shape.dims < min_dims) {
    throw InvalidArgument(path.string() + ": IDX file has " + std::to_string(shape.dims) +
                          " dimension(s), i.e. labels; read it with read_int_vectors");
  }
  const std::uint64_t body = saturating_mul(shape.rows, shape.cols);
  in.require(body, describe(shape));
  if (in.remaining() > body) {
    throw in.corrupt(in.offset() + body,
                     std::to_string(in.remaining() - body) + " unexpected bytes after " + describe(shape));
  }
  BasicMatrix<Out> out(std::min<std::uint64_t>(shape.rows, max_rows), shape.cols);
  in.read_values<std::uint8_t>(std::span<Out>(out.values), "rows");
  return out;
}

template <typename Out>
BasicMatrix<Out> read_gzip(const std::filesystem::path& path, std::size_t max_rows, unsigned min_dims) {
  GzipReader in(path);
  const IdxShape shape = read_header(in);
  if (shape.dims < min_dims) {
    throw InvalidArgument(path.string() + ": IDX file has " + std::to_string(shape.dims) +
                          " dimension(s), i.e. labels; read it with read_int_vectors");
  }
  const std::uint64_t total = saturating_mul(shape.rows, shape.cols);
  if (total > kMaxGzipValues) {
    throw in.corrupt(4, describe(shape) + " exceed the " + std::to_string(kMaxGzipValues) +
                            " values a compressed IDX file may hold");
  }
  const std::uint64_t rows = std::min<std::uint64_t>(shape.rows, max_rows);
  const std::uint64_t wanted = rows * shape.cols;
  std::vector<std::uint8_t> bytes;
  // Reserving what the file could at most decompress to spares an honest file the
  // copies of a growing buffer; the pages are only touched as data arrives.
  bytes.reserve(std::min(wanted, saturating_mul(in.compressed_size(), kMaxDeflateRatio)));
  while (bytes.size() < wanted) {
    // Blocks grow with what has arrived (1 MiB, doubling up to 16 MiB), so a small file
    // with a huge header touches about a megabyte before its data runs out.
    const std::size_t old = bytes.size();
    const std::size_t block =
        std::min(wanted - old, std::clamp<std::uint64_t>(old, kGzipFirstBlockBytes, kGzipBlockBytes));
    bytes.resize(old + block);
    in.read(std::as_writable_bytes(std::span(bytes.data() + old, block)), describe(shape));
  }
  if (rows == shape.rows) in.expect_end(describe(shape));
  BasicMatrix<Out> out(rows, shape.cols);
  std::transform(bytes.begin(), bytes.end(), out.values.begin(),
                 [](std::uint8_t v) { return static_cast<Out>(v); });
  return out;
}

template <typename Out>
BasicMatrix<Out> read_idx(const std::filesystem::path& path, IdxCompression compression, std::size_t max_rows,
                          unsigned min_dims) {
  return compression == IdxCompression::gzip ? read_gzip<Out>(path, max_rows, min_dims)
                                             : read_plain<Out>(path, max_rows, min_dims);
}

}  // namespace

Matrix read_idx_vectors(const std::filesystem::path& path, IdxCompression compression, std::size_t max_rows) {
  return read_idx<float>(path, compression, max_rows, 2);
}

IntMatrix read_idx_ints(const std::filesystem::path& path, IdxCompression compression, std::size_t max_rows) {
  return read_idx<std::int32_t>(path, compression, max_rows, 1);
}

}  // namespace quiver::io
