#include "engine/io/binary_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace quiver::io {

BinaryReader::BinaryReader(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = UniqueFd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_) throw_open_error(path_, errno);
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) throw io_error(path_, "stat", errno);
  if (!S_ISREG(st.st_mode)) throw IoError(path_.string() + ": not a regular file");
  size_ = static_cast<std::uint64_t>(st.st_size);
  // Advisory only: doubles the kernel's read-ahead for the large sequential reads below.
  ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
}

void BinaryReader::seek(std::uint64_t offset) {
  if (offset > size_) {
    throw truncated_file(path_, size_, "seek to byte " + std::to_string(offset) + " past the end");
  }
  offset_ = offset;
}

void BinaryReader::require(std::uint64_t bytes, std::string_view what) const {
  if (bytes <= remaining()) return;
  throw truncated(std::string(what) + ": " + std::to_string(bytes) + " bytes needed but only " +
                  std::to_string(remaining()) + " remain");
}

void BinaryReader::read(std::span<std::byte> out, std::string_view what) {
  require(out.size(), what);
  // Linux transfers at most ~2 GiB per call; 1 GiB blocks stay well under that.
  constexpr std::size_t kMaxCall = std::size_t{1} << 30;
  std::size_t done = 0;
  while (done < out.size()) {
    const std::size_t want = std::min(out.size() - done, kMaxCall);
    const ssize_t got = ::pread(fd_.get(), out.data() + done, want, static_cast<off_t>(offset_));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw io_error(path_, "read", errno);
    }
    if (got == 0) {
      // The file shrank after we measured it (someone is rewriting it).
      throw truncated(std::string(what) + ": the file shrank while being read");
    }
    done += static_cast<std::size_t>(got);
    offset_ += static_cast<std::uint64_t>(got);
  }
}

std::uint16_t BinaryReader::read_u16_le(std::string_view what) {
  std::uint16_t value = 0;
  read(std::as_writable_bytes(std::span(&value, 1)), what);
  return value;
}

std::uint32_t BinaryReader::read_u32_le(std::string_view what) {
  std::uint32_t value = 0;
  read(std::as_writable_bytes(std::span(&value, 1)), what);
  return value;
}

std::int32_t BinaryReader::read_i32_le(std::string_view what) {
  std::int32_t value = 0;
  read(std::as_writable_bytes(std::span(&value, 1)), what);
  return value;
}

void BinaryReader::expect_end(std::string_view what) const {
  if (remaining() == 0) return;
  throw corrupt(offset_, std::to_string(remaining()) + " unexpected bytes after " + std::string(what));
}

}  // namespace quiver::io
