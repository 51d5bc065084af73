// AVX-512 (F, BW, DQ, VL) + F16C variant of the distance kernels. Built with those -m
// flags; distance.cpp reads the table only after checking that the CPU and OS
// support them.
// GCC 12 reports its own _mm512_undefined_ps() in the intrinsics as uninitialised
// (PR 105593); the warning is located in the header, so silencing it there suffices.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#include <xsimd/xsimd.hpp>

#include "quant/distance_kernels.h"

namespace quiver::quant {
namespace {

struct Avx512 {
  using batch = xsimd::batch<float, xsimd::avx512bw>;

  static __mmask16 tail_mask(std::size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

  static batch load(const float* p) { return batch::load_unaligned(p); }
  static batch load(const std::uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  // Masked loads do not touch (or fault on) the lanes past n.
  static batch load_tail(const float* p, std::size_t n) {
    return _mm512_maskz_loadu_ps(tail_mask(n), p);
  }
  static batch load_tail(const std::uint16_t* p, std::size_t n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail_mask(n), p));
  }
  static float sum(batch v) { return _mm512_reduce_add_ps(v); }
};

}  // namespace

namespace detail {
extern const DistanceKernels avx512_kernels;
constinit const DistanceKernels avx512_kernels = simd::make_kernels<Avx512>("avx512");
}  // namespace detail

}  // namespace quiver::quant
