// Bytes a client sent, as a scratch file for readers that take a path (such as
// RelevanceFilter::load). The file lives in the system's temporary directory under a
// random name and is removed when the object goes.
#pragma once

#include <filesystem>
#include <string_view>

namespace quiver::api {

class UploadedFile {
 public:
  // Throws IoError when the file cannot be written.
  explicit UploadedFile(std::string_view bytes);
  ~UploadedFile();
  UploadedFile(const UploadedFile&) = delete;
  UploadedFile& operator=(const UploadedFile&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace quiver::api
