// SSE4.2 variant of the distance kernels, for x86-64 CPUs without AVX2. No FMA and no
// F16C here: multiply-add is two instructions and halves are widened with integer ops.
#include <immintrin.h>

#include <xsimd/xsimd.hpp>

#include "quant/distance_kernels.h"

namespace quiver::quant {
namespace {

// The low four halves of h to floats, exactly. The shifted bits are rebiased from half
// to float; inf/NaN get a second rebias to reach exponent 255, and subnormals are
// rebuilt as (2^-14 + m 2^-24) - 2^-14, which is exact.
__m128 widen_halves(__m128i h) {
  const __m128i u = _mm_cvtepu16_epi32(h);
  const __m128i sign = _mm_slli_epi32(_mm_and_si128(u, _mm_set1_epi32(0x8000)), 16);
  __m128i bits = _mm_slli_epi32(_mm_and_si128(u, _mm_set1_epi32(0x7fff)), 13);
  const __m128i exp = _mm_and_si128(bits, _mm_set1_epi32(0x0f800000));
  const __m128i rebias = _mm_set1_epi32((127 - 15) << 23);
  bits = _mm_add_epi32(bits, rebias);
  const __m128i special = _mm_cmpeq_epi32(exp, _mm_set1_epi32(0x0f800000));
  bits = _mm_add_epi32(bits, _mm_and_si128(special, rebias));
  const __m128i tiny = _mm_cmpeq_epi32(exp, _mm_setzero_si128());
  const __m128 min_normal = _mm_castsi128_ps(_mm_set1_epi32(113 << 23));  // 2^-14
  const __m128 rebuilt =
      _mm_sub_ps(_mm_castsi128_ps(_mm_add_epi32(bits, _mm_set1_epi32(1 << 23))), min_normal);
  const __m128 value = _mm_blendv_ps(_mm_castsi128_ps(bits), rebuilt, _mm_castsi128_ps(tiny));
  return _mm_or_ps(value, _mm_castsi128_ps(sign));
}

struct Sse4 {
  using batch = xsimd::batch<float, xsimd::sse4_2>;

  static batch load(const float* p) { return batch::load_unaligned(p); }
  static batch load(const std::uint16_t* p) {
    return widen_halves(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  // No masked loads before AVX; the tail is at most 3 elements.
  static batch load_tail(const float* p, std::size_t n) {
    alignas(16) float buffer[4] = {};
    for (std::size_t i = 0; i < n; ++i) buffer[i] = p[i];
    return _mm_load_ps(buffer);
  }
  static batch load_tail(const std::uint16_t* p, std::size_t n) {
    alignas(16) std::uint16_t buffer[8] = {};
    for (std::size_t i = 0; i < n; ++i) buffer[i] = p[i];
    return widen_halves(_mm_load_si128(reinterpret_cast<const __m128i*>(buffer)));
  }
  static float sum(batch v) {
    __m128 s = v;
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace

namespace detail {
extern const DistanceKernels sse4_kernels;
constinit const DistanceKernels sse4_kernels = simd::make_kernels<Sse4>("sse4");
}  // namespace detail

}  // namespace quiver::quant
