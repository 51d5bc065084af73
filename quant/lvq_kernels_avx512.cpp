// AVX-512 (F, BW, DQ, VL) + F16C variant of the LVQ kernels, built with the same -m flags
// as distance_avx512.cpp; lvq_kernels.cpp hands it out only where distance.cpp found
// those extensions usable.
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

#include "quant/lvq_kernels_simd.h"

namespace quiver::quant {
namespace {

struct Avx512 {
  using batch = xsimd::batch<float, xsimd::avx512bw>;

  static __m512i widen_bytes(const std::byte* p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }

  static batch load(const float* p) { return batch::load_unaligned(p); }
  static batch widen(const std::byte* p) { return _mm512_cvtepi32_ps(widen_bytes(p)); }
  // Bytes widen to 32-bit lanes, so the high nibble needs no mask after the shift.
  static batch widen_nibbles(const std::byte* p, bool high) {
    const __m512i v = widen_bytes(p);
    return _mm512_cvtepi32_ps(high ? _mm512_srli_epi32(v, 4) : _mm512_and_si512(v, _mm512_set1_epi32(0xf)));
  }
  static batch keep(batch v, std::size_t n) {
    return _mm512_maskz_mov_ps(static_cast<__mmask16>((1u << n) - 1u), v);
  }
  static float sum(batch v) { return _mm512_reduce_add_ps(v); }
  static float half(std::uint16_t h) { return _cvtsh_ss(h); }
};

}  // namespace

namespace detail {
extern const LvqKernels lvq_avx512_kernels;
constinit const LvqKernels lvq_avx512_kernels = lvq_simd::make_kernels<Avx512>("avx512");
}  // namespace detail

}  // namespace quiver::quant
