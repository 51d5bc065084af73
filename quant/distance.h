// Distance kernels: the inner loop of every graph walk and re-rank. One SIMD variant
// per instruction set, chosen once per process from the running CPU (or QUIVER_ISA),
// so a binary built anywhere runs on any CPU of its architecture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace quiver::quant {

using F32Kernel = float (*)(const float* a, const float* b, std::size_t dim);
// `stored` holds IEEE binary16 bit patterns (see float16.h).
using F16Kernel = float (*)(const float* query, const std::uint16_t* stored, std::size_t dim);
using F16F16Kernel = float (*)(const std::uint16_t* a, const std::uint16_t* b, std::size_t dim);

// Every kernel accepts any dim (0 included) and unaligned pointers, reads exactly
// dim elements of each input, and sums in float with an error of at most about
// dim * 2^-24 times the sum of the absolute values of the terms.
struct DistanceKernels {
  const char* isa;  // "avx512", "avx2", "sse4", "neon" or "scalar"
  F32Kernel l2_sq;  // sum (a-b)^2
  F32Kernel dot;    // sum a*b
  F16Kernel l2_sq_f16;
  F16Kernel dot_f16;
  F16F16Kernel l2_sq_f16f16;
  F16F16Kernel dot_f16f16;
};

// The best variant for the running CPU, or the one named by the environment variable
// QUIVER_ISA (avx512|avx2|sse4|neon|scalar; unset or empty means best). Chosen on
// first call; throws InvalidArgument if QUIVER_ISA names a variant that is unknown,
// not compiled in, or not runnable on this CPU.
const DistanceKernels& kernels();

// Plain C++ loops; the reference the SIMD variants are tested against.
const DistanceKernels& scalar_kernels();

// Every variant compiled in and runnable here, best first; scalar is always last.
std::vector<const DistanceKernels*> supported_kernels();

// The variant named `isa` (as in DistanceKernels::isa). Throws InvalidArgument naming
// the supported variants if `isa` is unknown or not runnable here. kernels() applies
// this to QUIVER_ISA.
const DistanceKernels& kernels_for_isa(std::string_view isa);

// Scales v to unit L2 norm (computed in double, so no overflow or underflow for any
// finite input); a zero vector stays zero.
void normalize(std::span<float> v);

}  // namespace quiver::quant
