// Whole-file I/O for the filter's model files. Writes go to "<path>.tmp", are fsynced
// and renamed over <path>, then the directory is fsynced, so a crash leaves either the
// old file or the complete new one. (filters/ may not reach engine/'s writer.)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace quiver::filters {

// Throws IoError naming the file and the failed step.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

// Throws NotFound if the file does not exist, InvalidArgument for a directory, IoError if
// it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace quiver::filters
