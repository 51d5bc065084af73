// Owns a POSIX file descriptor so that every early throw in a reader or writer still
// closes it. Readers and writers use raw descriptors rather than iostreams to get
// errno for IoError messages and fsync for durable writes.
#pragma once

#include <unistd.h>

#include <utility>

namespace quiver::io {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Gives up ownership, e.g. to gzdopen, which closes the descriptor itself.
  int release() { return std::exchange(fd_, -1); }
  // Errors from close() on a read-only descriptor carry no information worth a throw;
  // writers call ::close themselves and check it before renaming.
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace quiver::io
