// The messages every reader and writer in io/ throws: which file, which byte, what was
// wrong. Kept in one place so that "<path>: truncated at byte N: ..." reads the same
// whichever format found the problem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "quiver/error.h"

namespace quiver::io {

// The file ends before `detail` could be read; `offset` is where the data ran out.
CorruptFile truncated_file(const std::filesystem::path& path, std::uint64_t offset, std::string_view detail);

// A header field or row at `offset` holds a value no valid file would.
CorruptFile corrupt_file(const std::filesystem::path& path, std::uint64_t offset, std::string_view detail);

// A file-level inconsistency with no single byte to blame (HDF5 datasets, shapes).
CorruptFile corrupt_file(const std::filesystem::path& path, std::string_view detail);

// Maps errno from an open() to NotFound (ENOENT, ENOTDIR) or IoError.
[[noreturn]] void throw_open_error(const std::filesystem::path& path, int error);

// `operation` is a verb phrase ("read", "fsync", "rename to x"); the message adds strerror.
IoError io_error(const std::filesystem::path& path, std::string_view operation, int error);

}  // namespace quiver::io
