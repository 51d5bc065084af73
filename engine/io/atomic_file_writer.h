// Writes a file so that readers only ever see the old version or the complete new
// one: data goes to "<path>.tmp", is fsynced, renamed over <path>, and the directory is
// fsynced so the rename itself survives a crash. Every writer in io/ goes through it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <type_traits>
#include <vector>

#include "engine/io/unique_fd.h"

namespace quiver::io {

class AtomicFileWriter {
 public:
  // Creates (truncates) <path>.tmp; throws IoError if it cannot.
  explicit AtomicFileWriter(std::filesystem::path path);
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  // Without a successful commit() the temporary file is removed and <path> is untouched.
  ~AtomicFileWriter();

  void write(std::span<const std::byte> bytes);
  template <typename T>
  void write_value(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    write(std::as_bytes(std::span(&value, 1)));
  }

  // Makes the new contents durable and visible at <path>; throws IoError on failure.
  void commit();

 private:
  void flush();
  void write_through(std::span<const std::byte> bytes);

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  UniqueFd fd_;
  // Row-prefixed formats (fvecs) write 4 bytes then one row at a time; batching them
  // saves a syscall per row.
  std::vector<std::byte> buffer_;
  bool committed_ = false;
};

}  // namespace quiver::io
