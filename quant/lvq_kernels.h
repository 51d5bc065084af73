// LVQ distance kernels: one table per instruction set (lvq_kernels_<isa>.cpp), chosen
// with the same variant as distance.h, plus the code-layout helpers that LvqCodec and
// the scalar kernels share. The layout itself is described in lvq_codec.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "quant/float16.h"
#include "quant/lvq_codec.h"

namespace quiver::quant {

// 4-bit codes come in blocks of 32 dimensions packed into 16 bytes.
inline constexpr std::size_t kLvqBlockDims = 32;
inline constexpr std::size_t kLvqBlockBytes = 16;
// Codes are padded to a multiple of this; the float16 step and bias take 4 bytes.
inline constexpr std::size_t kLvqCodeAlign = 16;
inline constexpr std::size_t kLvqConstantsBytes = 4;

// Tables are indexed by a width slot: 0 bits (no level) -> 0, 4 -> 1, 8 -> 2.
constexpr std::size_t lvq_slot(unsigned bits) { return bits / 4; }

struct LvqKernels {
  const char* isa;  // as DistanceKernels::isa
  // [lvq_slot(bits)][Kind]; slot 0 (no first level) is unused.
  LvqCodec::DistanceFn one_level[3][2];
  // [lvq_slot(bits)][lvq_slot(residual_bits)][Kind]; residual slot 0 ignores `residual`.
  LvqCodec::TwoLevelFn two_level[3][3][2];
  LvqCodec::SymmetricFn symmetric[3][2];
};

// The variant for instruction set `isa` (a name from supported_kernels()); an ISA with
// no LVQ variant of its own (sse4, neon) gets the scalar one. Throws InvalidArgument if
// kernels_for_isa(isa) does.
const LvqKernels& lvq_kernels_for_isa(std::string_view isa);

// Bytes of `dim` packed codes of `bits` (4 or 8) bits, before padding.
constexpr std::size_t lvq_packed_bytes(std::size_t dim, unsigned bits) {
  return bits == 8 ? dim : (dim + kLvqBlockDims - 1) / kLvqBlockDims * kLvqBlockBytes;
}

constexpr std::size_t lvq_padded(std::size_t bytes) {
  return (bytes + kLvqCodeAlign - 1) / kLvqCodeAlign * kLvqCodeAlign;
}

// Where dimension j of 4-bit codes lives: its byte, and the shift of its nibble.
constexpr std::size_t lvq_nibble_byte(std::size_t j) {
  return j / kLvqBlockDims * kLvqBlockBytes + j % kLvqBlockBytes;
}
constexpr unsigned lvq_nibble_shift(std::size_t j) { return j % kLvqBlockDims < kLvqBlockBytes ? 0 : 4; }

inline unsigned lvq_get_code(const std::byte* codes, std::size_t j, unsigned bits) {
  if (bits == 8) return std::to_integer<unsigned>(codes[j]);
  return (std::to_integer<unsigned>(codes[lvq_nibble_byte(j)]) >> lvq_nibble_shift(j)) & 0xfu;
}

// `codes` must be zeroed first: 4-bit codes are OR-ed into place.
inline void lvq_set_code(std::byte* codes, std::size_t j, unsigned bits, unsigned code) {
  if (bits == 8) {
    codes[j] = static_cast<std::byte>(code);
  } else {
    codes[lvq_nibble_byte(j)] |= static_cast<std::byte>(code << lvq_nibble_shift(j));
  }
}

// The per-vector affine map of level-1 codes: x' = step * code + bias.
struct LvqAffine {
  float step;
  float bias;
};

// The float16 step and bias, stored little-endian after `packed_bytes` of codes.
inline LvqAffine lvq_read_affine(const std::byte* primary, std::size_t packed_bytes) {
  const auto half = [&](std::size_t at) {
    const unsigned low = std::to_integer<unsigned>(primary[packed_bytes + at]);
    const unsigned high = std::to_integer<unsigned>(primary[packed_bytes + at + 1]);
    return half_to_float(static_cast<std::uint16_t>(low | high << 8));
  };
  return {half(0), half(2)};
}

inline void lvq_write_affine(std::byte* primary, std::size_t packed_bytes, std::uint16_t step,
                             std::uint16_t bias) {
  const std::uint16_t halves[2] = {step, bias};
  for (std::size_t i = 0; i < 2; ++i) {
    primary[packed_bytes + 2 * i] = static_cast<std::byte>(halves[i] & 0xff);
    primary[packed_bytes + 2 * i + 1] = static_cast<std::byte>(halves[i] >> 8);
  }
}

// Both levels decode as one affine map of the integer (2^B2 - 1) * code + residual_code:
// the residual code counts steps of step / (2^B2 - 1) from -step / 2. Every kernel
// computes it with these same float operations.
inline LvqAffine lvq_two_level_affine(LvqAffine first, unsigned residual_bits) {
  const float levels = static_cast<float>((1u << residual_bits) - 1u);
  return {first.step / levels, first.bias - 0.5f * first.step};
}

}  // namespace quiver::quant
