#include "quant/float16.h"

#include <bit>
#include <string>

#include "quiver/error.h"

namespace quiver::quant {

namespace {

constexpr std::uint32_t kFloatExpMask = 0x7f800000u;
constexpr std::uint32_t kFloatQuietBit = 0x00400000u;
constexpr std::uint32_t kHalfInf = 0x7c00u;
constexpr std::uint32_t kHalfQuietBit = 0x0200u;
constexpr std::uint32_t kRebias = (127u - 15u) << 23;  // float bias minus half bias, in place
constexpr std::uint32_t kHalfOverflow = 0x477ff000u;   // 65520: ties to even go to inf
constexpr std::uint32_t kHalfMinNormal = 0x38800000u;  // 2^-14
constexpr std::uint32_t kHalfUnderflow = 0x33000000u;  // 2^-25: half the least subnormal

void check_sizes(std::size_t in, std::size_t out, const char* what) {
  if (in != out) {
    throw InvalidArgument(std::string(what) + ": input has " + std::to_string(in) +
                          " elements but output has " + std::to_string(out) +
                          "; expected equal sizes");
  }
}

}  // namespace

std::uint16_t float_to_half(float x) {
  const auto bits = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t abs = bits & 0x7fffffffu;

  if (abs >= kFloatExpMask) {
    if (abs == kFloatExpMask) return static_cast<std::uint16_t>(sign | kHalfInf);
    return static_cast<std::uint16_t>(sign | kHalfInf | kHalfQuietBit | ((abs >> 13) & 0x3ffu));
  }
  if (abs >= kHalfOverflow) return static_cast<std::uint16_t>(sign | kHalfInf);
  if (abs >= kHalfMinNormal) {
    // Adding 0xfff plus the kept lsb rounds the 13 dropped bits to nearest even; a
    // mantissa carry correctly bumps the exponent.
    std::uint32_t r = abs - kRebias;
    r += 0xfffu + ((r >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | (r >> 13));
  }
  if (abs <= kHalfUnderflow) return static_cast<std::uint16_t>(sign);  // 2^-25 ties to 0

  // Subnormal half: count of 2^-24 units, rounded to nearest even. The float value is
  // significand * 2^(exp-150), so the shift is 126 - exp, between 14 and 24 here.
  const std::uint32_t exp = abs >> 23;
  const std::uint32_t significand = (abs & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126u - exp;
  std::uint32_t q = significand >> shift;
  const std::uint32_t rest = significand & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1u);
  if (rest > halfway || (rest == halfway && (q & 1u))) ++q;  // may reach 0x400, the least normal
  return static_cast<std::uint16_t>(sign | q);
}

// Branch-free (masks, not ternaries, which GCC leaves as control flow), so that
// halves_to_floats' loop vectorises. Subnormals are rebuilt as (2^-14 + m 2^-24) - 2^-14:
// exact, and with normal operands, so flush-to-zero and denormals-are-zero modes cannot
// change the result.
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t abs = h & 0x7fffu;
  const std::uint32_t special = 0u - static_cast<std::uint32_t>(abs >= kHalfInf);  // inf or NaN
  const std::uint32_t nan = 0u - static_cast<std::uint32_t>(abs > kHalfInf);
  const std::uint32_t tiny = 0u - static_cast<std::uint32_t>(abs < 0x400u);        // subnormal or 0
  std::uint32_t bits = (abs << 13) + kRebias;
  bits += special & kRebias;      // exponent 31 becomes 255
  bits |= nan & kFloatQuietBit;   // NaN comes out quiet, as with F16C
  const float rebuilt = std::bit_cast<float>(bits + (1u << 23)) - 0x1p-14f;
  const std::uint32_t magnitude = (std::bit_cast<std::uint32_t>(rebuilt) & tiny) | (bits & ~tiny);
  return std::bit_cast<float>(magnitude | sign);
}

void floats_to_halves(std::span<const float> in, std::span<std::uint16_t> out) {
  check_sizes(in.size(), out.size(), "floats_to_halves");
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = float_to_half(in[i]);
}

void halves_to_floats(std::span<const std::uint16_t> in, std::span<float> out) {
  check_sizes(in.size(), out.size(), "halves_to_floats");
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = half_to_float(in[i]);
}

}  // namespace quiver::quant
