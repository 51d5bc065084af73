// Crash-safe file primitives for index directories: write to a temporary name,
// fsync, rename over the target, fsync the directory. A reader therefore sees either
// the old file or the complete new one, never a torn write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

namespace quiver::engine {

// Flushes a file's contents (or a directory's entries) to stable storage.
void fsync_path(const std::filesystem::path& path);

// Calls `write(temp_path)` to produce the file under a temporary name in the same
// directory, then fsyncs it and renames it to `target`. The temp file is removed if
// `write` throws. Throws IoError on OS failure.
void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path&)>& write);

// Writes `bytes` to `target` atomically.
void write_text_atomically(const std::filesystem::path& target, std::string_view bytes);

// CRC-32 (zlib's polynomial) of a whole file, read in large blocks.
std::uint32_t file_crc32(const std::filesystem::path& path);

}  // namespace quiver::engine
