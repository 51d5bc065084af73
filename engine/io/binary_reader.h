// A bounds-checked sequential reader over a regular file: the one place where io/
// touches the bytes of the uncompressed formats. It knows the file's real size up front,
// so a format checks what its header claims against what is there before allocating,
// and every failure names the file and the byte offset.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "engine/io/file_error.h"
#include "engine/io/unique_fd.h"

namespace quiver::io {

// Every format io/ reads or writes is little-endian (IDX's big-endian header is decoded
// by hand); a big-endian port would add byte swaps to read_values and the writers.
static_assert(std::endian::native == std::endian::little,
              "quiver's file readers assume a little-endian host");

class BinaryReader {
 public:
  // Throws NotFound for a missing file, IoError if it cannot be opened or is not a
  // regular file.
  explicit BinaryReader(std::filesystem::path path);

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t offset() const { return offset_; }
  std::uint64_t remaining() const { return size_ - offset_; }
  void seek(std::uint64_t offset);

  // Throws CorruptFile unless `bytes` remain after the current offset. Formats call it
  // with what a header claims *before* allocating for it. The message reads
  // "<what>: <bytes> bytes needed but only <remaining> remain".
  void require(std::uint64_t bytes, std::string_view what) const;

  // Reads exactly out.size() bytes; `what` names them for the truncation message.
  void read(std::span<std::byte> out, std::string_view what);
  std::uint16_t read_u16_le(std::string_view what);
  std::uint32_t read_u32_le(std::string_view what);
  std::int32_t read_i32_le(std::string_view what);

  // Reads out.size() values stored as `Stored`, converting each to `Out` (u8 pixels to
  // float). Same-type reads go straight into `out`, in large blocks.
  template <typename Stored, typename Out>
  void read_values(std::span<Out> out, std::string_view what);

  // Trailing bytes mean the header undercounts the data: the file is not what it
  // claims to be (often a different dtype read under the wrong extension).
  void expect_end(std::string_view what) const;

  CorruptFile truncated(std::string_view detail) const { return truncated_file(path_, offset_, detail); }
  CorruptFile corrupt(std::uint64_t offset, std::string_view detail) const {
    return corrupt_file(path_, offset, detail);
  }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;
  std::uint64_t offset_ = 0;
};

template <typename Stored, typename Out>
void BinaryReader::read_values(std::span<Out> out, std::string_view what) {
  static_assert(std::is_trivially_copyable_v<Stored> && std::is_arithmetic_v<Out>);
  require(static_cast<std::uint64_t>(out.size()) * sizeof(Stored), what);
  if constexpr (std::is_same_v<Stored, Out>) {
    read(std::as_writable_bytes(out), what);
  } else {
    // A bounded staging block keeps widening (u8 -> float) from doubling peak memory.
    constexpr std::size_t kBlock = std::size_t{1} << 20;
    std::vector<Stored> staging(std::min(out.size(), kBlock));
    for (std::size_t done = 0; done < out.size();) {
      const std::size_t n = std::min(out.size() - done, staging.size());
      read(std::as_writable_bytes(std::span<Stored>(staging.data(), n)), what);
      std::transform(staging.begin(), staging.begin() + static_cast<std::ptrdiff_t>(n),
                     out.begin() + static_cast<std::ptrdiff_t>(done),
                     [](Stored v) { return static_cast<Out>(v); });
      done += n;
    }
  }
}

}  // namespace quiver::io
