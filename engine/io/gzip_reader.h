// A sequential reader over a gzip stream (Fashion-MNIST ships its IDX files gzipped).
// Unlike BinaryReader it cannot know the data's length up front, so callers read in
// bounded blocks and let their buffers grow with what actually arrives; offsets in its
// messages count uncompressed bytes.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>

#include "engine/io/file_error.h"

namespace quiver::io {

class GzipReader {
 public:
  // Throws NotFound for a missing file, IoError if it cannot be opened. A file that
  // is not gzip-compressed is read as is (zlib's transparent mode).
  explicit GzipReader(std::filesystem::path path);

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t offset() const { return offset_; }
  // Size of the file on disk. Deflate expands at most ~1032:1, so this bounds how many
  // uncompressed bytes the file can really deliver.
  std::uint64_t compressed_size() const { return compressed_size_; }

  // Reads exactly out.size() bytes; throws CorruptFile at the offset where the data
  // ran out or the compressed stream is damaged. `what` names the bytes.
  void read(std::span<std::byte> out, std::string_view what);
  // Throws unless the stream ends here. Reading to the end is also what makes zlib
  // check the gzip trailer's CRC and length, so a damaged file cannot pass unnoticed.
  void expect_end(std::string_view what);

  CorruptFile truncated(std::string_view detail) const { return truncated_file(path_, offset_, detail); }
  CorruptFile corrupt(std::uint64_t offset, std::string_view detail) const {
    return corrupt_file(path_, offset, detail);
  }

 private:
  struct Closer {
    void operator()(gzFile_s* file) const { gzclose(file); }
  };

  // Returns how many bytes arrived before the stream ended (fewer than asked only at
  // the end); throws on damaged data or an OS error.
  std::size_t read_some(std::span<std::byte> out);

  std::filesystem::path path_;
  std::unique_ptr<gzFile_s, Closer> file_;
  std::uint64_t compressed_size_ = 0;
  std::uint64_t offset_ = 0;
};

}  // namespace quiver::io
