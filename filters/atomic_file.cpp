#include "filters/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "quiver/error.h"

namespace quiver::filters {
namespace {

IoError io_error(const std::filesystem::path& path, const std::string& step, int error) {
  return IoError("cannot " + step + " '" + path.string() + "': " + std::strerror(error));
}

// Closes on every exit path; errors of the final close are checked by hand.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  const std::filesystem::path temp = path.string() + ".tmp";
  Descriptor fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw io_error(temp, "create", errno);
  bool renamed = false;
  try {
    while (!bytes.empty()) {
      const ssize_t done = ::write(fd.get(), bytes.data(), bytes.size());
      if (done < 0) {
        if (errno == EINTR) continue;
        throw io_error(temp, "write", errno);
      }
      bytes.remove_prefix(static_cast<std::size_t>(done));
    }
    if (::fsync(fd.get()) != 0) throw io_error(temp, "fsync", errno);
    // close() can report a deferred write error (NFS), so it is checked before the rename.
    if (::close(fd.release()) != 0) throw io_error(temp, "close", errno);
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
      throw IoError("cannot rename '" + temp.string() + "' to '" + path.string() + "': " + std::strerror(errno));
    }
    renamed = true;
  } catch (...) {
    if (!renamed) ::unlink(temp.c_str());
    throw;
  }
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  Descriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) throw io_error(dir, "open directory to fsync", errno);
  // Some file systems cannot fsync a directory (EINVAL); there is nothing more to do there.
  if (::fsync(dir_fd.get()) != 0 && errno != EINVAL) throw io_error(dir, "fsync", errno);
}

std::string read_file(const std::filesystem::path& path) {
  Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) throw NotFound("'" + path.string() + "' does not exist");
    throw io_error(path, "open", errno);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw io_error(path, "stat", errno);
  if (S_ISDIR(info.st_mode)) throw InvalidArgument("'" + path.string() + "' is a directory, not a file");
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t done = ::read(fd.get(), buffer, sizeof buffer);
    if (done < 0) {
      if (errno == EINTR) continue;
      throw io_error(path, "read", errno);
    }
    if (done == 0) break;
    out.append(buffer, static_cast<std::size_t>(done));
  }
  return out;
}

}  // namespace quiver::filters
