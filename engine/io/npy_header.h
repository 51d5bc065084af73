// The header of a NumPy .npy file: magic, version, then a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }. Parsed by hand
// (a tiny, strict grammar) so that io/ needs no Python and no JSON quirks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace quiver::io {

struct NpyHeader {
  std::string descr;  // dtype string, e.g. "<f4"; structured dtypes are rejected
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
};

// Parses the dict text. `text_offset` is where the text starts in `path`, so that a
// CorruptFile points at the offending byte.
NpyHeader parse_npy_header(std::string_view text, const std::filesystem::path& path,
                           std::uint64_t text_offset);

// The complete preamble of a version 1.0 file (magic through the newline), padded so
// the data starts on a 64-byte boundary as NumPy itself writes it.
std::string format_npy_preamble(std::string_view descr, std::uint64_t rows, std::uint64_t cols);

}  // namespace quiver::io
