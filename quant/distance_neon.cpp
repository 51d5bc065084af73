// AArch64 Advanced SIMD variant of the distance kernels. NEON, FMA and half-to-float
// conversion are all part of the AArch64 base ISA, so this needs no extra flags.
#include <arm_neon.h>

#include <xsimd/xsimd.hpp>

#include "quant/distance_kernels.h"

namespace quiver::quant {
namespace {

struct Neon {
  using batch = xsimd::batch<float, xsimd::neon64>;

  static batch load(const float* p) { return batch::load_unaligned(p); }
  static batch load(const std::uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  // No masked loads; the tail is at most 3 elements.
  static batch load_tail(const float* p, std::size_t n) {
    alignas(16) float buffer[4] = {};
    for (std::size_t i = 0; i < n; ++i) buffer[i] = p[i];
    return vld1q_f32(buffer);
  }
  static batch load_tail(const std::uint16_t* p, std::size_t n) {
    alignas(8) std::uint16_t buffer[4] = {};
    for (std::size_t i = 0; i < n; ++i) buffer[i] = p[i];
    return load(buffer);
  }
  static float sum(batch v) { return vaddvq_f32(v); }
};

}  // namespace

namespace detail {
extern const DistanceKernels neon_kernels;
constinit const DistanceKernels neon_kernels = simd::make_kernels<Neon>("neon");
}  // namespace detail

}  // namespace quiver::quant
