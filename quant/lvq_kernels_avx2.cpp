// AVX2 + FMA + F16C variant of the LVQ kernels (Haswell, Zen and later), built with the
// same -m flags as distance_avx2.cpp; lvq_kernels.cpp hands it out only where
// distance.cpp found those extensions usable.
#include <immintrin.h>

#include <xsimd/xsimd.hpp>

#include "quant/lvq_kernels_simd.h"

namespace quiver::quant {
namespace {

// Sliding window over 8 all-ones then 8 zero lanes: the mask for the first n lanes.
alignas(64) constexpr std::int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

struct Avx2 {
  using batch = xsimd::batch<float, xsimd::fma3<xsimd::avx2>>;

  static __m256i widen_bytes(const std::byte* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }

  static batch load(const float* p) { return batch::load_unaligned(p); }
  static batch widen(const std::byte* p) { return _mm256_cvtepi32_ps(widen_bytes(p)); }
  // Bytes widen to 32-bit lanes, so the high nibble needs no mask after the shift.
  static batch widen_nibbles(const std::byte* p, bool high) {
    const __m256i v = widen_bytes(p);
    return _mm256_cvtepi32_ps(high ? _mm256_srli_epi32(v, 4) : _mm256_and_si256(v, _mm256_set1_epi32(0xf)));
  }
  static batch keep(batch v, std::size_t n) {
    const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - n));
    return _mm256_and_ps(v, _mm256_castsi256_ps(mask));
  }
  static float sum(batch v) {
    const __m256 x = v;
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float half(std::uint16_t h) { return _cvtsh_ss(h); }
};

}  // namespace

namespace detail {
extern const LvqKernels lvq_avx2_kernels;
constinit const LvqKernels lvq_avx2_kernels = lvq_simd::make_kernels<Avx2>("avx2");
}  // namespace detail

}  // namespace quiver::quant
