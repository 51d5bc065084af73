#include "engine/io/file_error.h"

#include <cerrno>
#include <string>
#include <system_error>

namespace quiver::io {
namespace {

std::string located(const std::filesystem::path& path, std::string_view kind, std::uint64_t offset,
                    std::string_view detail) {
  std::string message = path.string();
  message += ": ";
  message += kind;
  message += " at byte ";
  message += std::to_string(offset);
  message += ": ";
  message += detail;
  return message;
}

}  // namespace

CorruptFile truncated_file(const std::filesystem::path& path, std::uint64_t offset, std::string_view detail) {
  return CorruptFile(located(path, "truncated", offset, detail));
}

CorruptFile corrupt_file(const std::filesystem::path& path, std::uint64_t offset, std::string_view detail) {
  return CorruptFile(located(path, "bad data", offset, detail));
}

CorruptFile corrupt_file(const std::filesystem::path& path, std::string_view detail) {
  return CorruptFile(path.string() + ": " + std::string(detail));
}

void throw_open_error(const std::filesystem::path& path, int error) {
  if (error == ENOENT || error == ENOTDIR) {
    throw NotFound(path.string() + ": no such file");
  }
  throw io_error(path, "open", error);
}

IoError io_error(const std::filesystem::path& path, std::string_view operation, int error) {
  return IoError(path.string() + ": cannot " + std::string(operation) + ": " +
                 std::generic_category().message(error));
}

}  // namespace quiver::io
