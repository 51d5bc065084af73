// AVX2 + FMA + F16C variant of the distance kernels (Haswell, Zen and later). Built
// with those -m flags; distance.cpp reads the table only after checking that the CPU
// and OS support them.
#include <immintrin.h>

#include <xsimd/xsimd.hpp>

#include "quant/distance_kernels.h"

namespace quiver::quant {
namespace {

// Sliding window over 8 all-ones then 8 zero lanes: the mask for the first n lanes.
alignas(64) constexpr std::int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

struct Avx2 {
  using batch = xsimd::batch<float, xsimd::fma3<xsimd::avx2>>;

  static batch load(const float* p) { return batch::load_unaligned(p); }
  static batch load(const std::uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // vmaskmovps does not touch (or fault on) masked-off lanes.
  static batch load_tail(const float* p, std::size_t n) {
    const __m256i mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - n));
    return _mm256_maskload_ps(p, mask);
  }
  // AVX2 has no 16-bit masked load; the tail is at most 7 halves.
  static batch load_tail(const std::uint16_t* p, std::size_t n) {
    alignas(16) std::uint16_t buffer[8] = {};
    for (std::size_t i = 0; i < n; ++i) buffer[i] = p[i];
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(buffer)));
  }
  static float sum(batch v) {
    const __m256 x = v;
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace

namespace detail {
extern const DistanceKernels avx2_kernels;
constinit const DistanceKernels avx2_kernels = simd::make_kernels<Avx2>("avx2");
}  // namespace detail

}  // namespace quiver::quant
