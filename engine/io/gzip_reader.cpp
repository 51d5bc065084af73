#include "engine/io/gzip_reader.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "engine/io/unique_fd.h"

namespace quiver::io {

GzipReader::GzipReader(std::filesystem::path path) : path_(std::move(path)) {
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_open_error(path_, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw io_error(path_, "stat", errno);
  if (!S_ISREG(st.st_mode)) throw IoError(path_.string() + ": not a regular file");
  compressed_size_ = static_cast<std::uint64_t>(st.st_size);
  // gzdopen takes over the descriptor only when it succeeds.
  file_.reset(gzdopen(fd.get(), "rb"));
  if (!file_) throw IoError(path_.string() + ": cannot start gzip decompression (out of memory)");
  fd.release();
  // zlib's default 8 KiB input buffer costs a syscall per 8 KiB; 256 KiB reads at disk speed.
  gzbuffer(file_.get(), 256 * 1024);
}

std::size_t GzipReader::read_some(std::span<std::byte> out) {
  // gzread counts in unsigned and returns int: stay far below INT_MAX per call.
  constexpr std::size_t kMaxCall = std::size_t{1} << 30;
  std::size_t done = 0;
  while (done < out.size()) {
    const auto want = static_cast<unsigned>(std::min(out.size() - done, kMaxCall));
    const int got = gzread(file_.get(), out.data() + done, want);
    if (got > 0) {
      done += static_cast<std::size_t>(got);
      offset_ += static_cast<std::uint64_t>(got);
      continue;
    }
    int code = Z_OK;
    const char* message = gzerror(file_.get(), &code);
    // Z_BUF_ERROR is zlib's "compressed stream ends mid-way": truncation, like a clean end.
    if (code == Z_OK || code == Z_BUF_ERROR) break;
    if (code == Z_ERRNO) throw io_error(path_, "read", errno);
    throw corrupt(offset_, std::string("damaged gzip data: ") + message);
  }
  return done;
}

void GzipReader::read(std::span<std::byte> out, std::string_view what) {
  const std::uint64_t start = offset_;
  const std::size_t got = read_some(out);
  if (got == out.size()) return;
  throw truncated_file(path_, offset_,
                       std::string(what) + ": " + std::to_string(out.size()) + " bytes needed from byte " +
                           std::to_string(start) + " but the data ends after " + std::to_string(got));
}

void GzipReader::expect_end(std::string_view what) {
  std::byte probe{};
  if (read_some(std::span(&probe, 1)) == 0) return;
  throw corrupt(offset_ - 1, "unexpected data after " + std::string(what));
}

}  // namespace quiver::io
