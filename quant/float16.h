// IEEE 754 binary16 ("half") conversion. Vectors stored as float16 halve memory and
// bandwidth; distance.h's *_f16 kernels read these bit patterns directly.
#pragma once

#include <cstdint>
#include <span>

namespace quiver::quant {

// Round to nearest, ties to even; values of magnitude >= 65520 become +-inf; results
// below the normal range become subnormals or signed zero. NaN stays NaN (made quiet,
// top payload bits kept), the same bits the F16C instruction gives.
std::uint16_t float_to_half(float x);

// Exact for every half value; signalling NaNs come back quiet, as with F16C.
float half_to_float(std::uint16_t h);

// Element-wise; throws InvalidArgument if the spans differ in size.
void floats_to_halves(std::span<const float> in, std::span<std::uint16_t> out);
void halves_to_floats(std::span<const std::uint16_t> in, std::span<float> out);

}  // namespace quiver::quant
