#include "api/uploaded_file.h"

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include "quiver/error.h"

namespace quiver::api {

UploadedFile::UploadedFile(std::string_view bytes) {
  std::random_device entropy;
  std::ostringstream name;
  name << "quiver-upload-" << std::hex << entropy() << entropy();
  path_ = std::filesystem::temp_directory_path() / name.str();
  std::ofstream out(path_, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    throw IoError("cannot write the uploaded file to " + path_.string());
  }
}

UploadedFile::~UploadedFile() {
  std::error_code ignored;  // a scratch file left behind is no reason to fail a request
  std::filesystem::remove(path_, ignored);
}

}  // namespace quiver::api
