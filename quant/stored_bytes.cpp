#include "quant/stored_bytes.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "quiver/error.h"

namespace quiver::quant::stored_bytes {

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t hash) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_floats(std::string& out, const std::vector<float>& values) {
  for (const float v : values) put_u32(out, std::bit_cast<std::uint32_t>(v));
}

std::uint32_t get_u32(std::string_view bytes, std::size_t offset) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(bytes[offset + i])} << (8 * i);
  return v;
}

std::uint64_t get_u64(std::string_view bytes, std::size_t offset) {
  return get_u32(bytes, offset) | (std::uint64_t{get_u32(bytes, offset + 4)} << 32);
}

std::vector<float> get_floats(std::string_view bytes, std::size_t offset, std::size_t count) {
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = std::bit_cast<float>(get_u32(bytes, offset + 4 * i));
  return values;
}

std::string read_exactly(std::istream& in, std::size_t bytes, const std::string& source, std::string_view what,
                         std::string_view part) {
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  std::string out;
  while (out.size() < bytes) {
    const std::size_t want = std::min(kChunk, bytes - out.size());
    const std::size_t old = out.size();
    out.resize(old + want);
    in.read(out.data() + old, static_cast<std::streamsize>(want));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got != want) {
      throw CorruptFile(source + ": " + std::string(what) + " truncated in the " + std::string(part) + " (expected " +
                        std::to_string(bytes) + " bytes, got " + std::to_string(old + got) + ")");
    }
  }
  return out;
}

bool all_finite(const std::vector<float>& values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

}  // namespace quiver::quant::stored_bytes
