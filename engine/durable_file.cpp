#include "engine/durable_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "quiver/error.h"

namespace quiver::engine {

namespace {

[[noreturn]] void throw_os_error(const std::string& what, const std::filesystem::path& path) {
  throw IoError(what + " '" + path.string() + "': " + std::strerror(errno));
}

class FileDescriptor {
 public:
  FileDescriptor(const std::filesystem::path& path, int flags) : fd_(::open(path.c_str(), flags | O_CLOEXEC)) {
    if (fd_ < 0) throw_os_error("cannot open", path);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { ::close(fd_); }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::filesystem::path temp_name_for(const std::filesystem::path& target) {
  std::random_device device;
  // Built with append: GCC 12 misreports operator+ chains here under -Wrestrict.
  std::string name(".");
  name.append(target.filename().string()).append(".tmp-").append(std::to_string(device()));
  return target.parent_path() / name;
}

}  // namespace

void fsync_path(const std::filesystem::path& path) {
  FileDescriptor fd(path, O_RDONLY);
  if (::fsync(fd.get()) != 0) throw_os_error("cannot fsync", path);
}

void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path&)>& write) {
  auto temp = temp_name_for(target);
  try {
    write(temp);
    fsync_path(temp);
    if (std::rename(temp.c_str(), target.c_str()) != 0) throw_os_error("cannot rename to", target);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw;
  }
  auto directory = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  fsync_path(directory);
}

void write_text_atomically(const std::filesystem::path& target, std::string_view bytes) {
  write_atomically(target, [&](const std::filesystem::path& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw IoError("cannot write '" + temp.string() + "': " + std::strerror(errno));
  });
}

std::uint32_t file_crc32(const std::filesystem::path& path) {
  FileDescriptor fd(path, O_RDONLY);
  std::vector<unsigned char> block(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  for (;;) {
    ssize_t got = ::read(fd.get(), block.data(), block.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_os_error("cannot read", path);
    }
    if (got == 0) break;
    crc = crc32(crc, block.data(), static_cast<uInt>(got));
  }
  return static_cast<std::uint32_t>(crc);
}

}  // namespace quiver::engine
