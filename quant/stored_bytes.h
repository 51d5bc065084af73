// Little-endian encoding of the trained state that quant/ persists (LeanVec maps, PQ
// codebooks): fixed-width integers and floats into a byte string, an FNV-1a checksum,
// and a bounded read that costs memory only for the bytes a stream really holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace quiver::quant::stored_bytes {

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t hash = 0xcbf29ce484222325ULL);

void put_u32(std::string& out, std::uint32_t v);
void put_u64(std::string& out, std::uint64_t v);
void put_floats(std::string& out, const std::vector<float>& values);

// `offset` (+ the width) must lie inside `bytes`; callers check lengths first.
std::uint32_t get_u32(std::string_view bytes, std::size_t offset);
std::uint64_t get_u64(std::string_view bytes, std::size_t offset);
std::vector<float> get_floats(std::string_view bytes, std::size_t offset, std::size_t count);

// Reads exactly `bytes` bytes, growing the buffer a chunk at a time, so that a header
// claiming a huge payload cannot make the reader allocate it. Throws CorruptFile
// "<source>: <what> truncated in the <part> (expected N bytes, got M)".
std::string read_exactly(std::istream& in, std::size_t bytes, const std::string& source, std::string_view what,
                         std::string_view part);

bool all_finite(const std::vector<float>& values);

}  // namespace quiver::quant::stored_bytes
