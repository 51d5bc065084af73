// Arithmetic on the sizes that file headers declare. Products saturate instead of
// wrapping, so an absurd header (2^32 rows of 2^32 values) fails the size check against
// the real file instead of slipping through as a small wrapped-around number.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

namespace quiver::io {

constexpr std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::numeric_limits<std::uint64_t>::max();
  return product;
}

constexpr std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return saturating_mul(saturating_mul(a, b), c);
}

// The element type's name as messages print it ("row 3 declares 128 float32 values").
template <typename T>
constexpr std::string_view element_name() {
  if constexpr (std::is_same_v<T, float>)
    return "float32";
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return "int32";
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return "uint8";
  else
    static_assert(sizeof(T) == 0, "no name for this element type");
}

}  // namespace quiver::io
