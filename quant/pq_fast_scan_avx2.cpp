// AVX2 fast-scan kernel, built with -mavx2; pq_fast_scan.cpp hands it out only where
// distance.cpp found AVX2 usable. No inline or template code of its own may escape this
// file (tests/quant/check_isa_symbols.cmake): everything here has internal linkage.
#include <immintrin.h>

#include "quant/pq_fast_scan.h"

namespace quiver::quant {
namespace {

// Sub-space pairs summed in 16-bit lanes before widening: each lane then holds at most
// 128 * 255 and the two halves of a register at most 2 * 128 * 255 = 65280 < 2^16.
constexpr std::size_t kPairsPer16Bit = 128;

void scan_avx2(const std::uint8_t* codes, std::size_t blocks, std::size_t pairs, const std::uint8_t* table,
               std::uint32_t* out) {
  const __m256i low_nibbles = _mm256_set1_epi8(0x0f);
  const __m256i low_bytes = _mm256_set1_epi16(0x00ff);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint8_t* block = codes + b * pairs * kFastScanPairBytes;
    __m256i total[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                        _mm256_setzero_si256()};
    for (std::size_t first = 0; first < pairs; first += kPairsPer16Bit) {
      const std::size_t end = pairs - first < kPairsPer16Bit ? pairs : first + kPairsPer16Bit;
      // acc[0]: vectors 0, 2, ..., 14; acc[1]: 1, 3, ..., 15; acc[2], acc[3]: the same for
      // 16 ... 31. The low 128-bit lane sums even sub-spaces, the high lane odd ones.
      __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                        _mm256_setzero_si256()};
      for (std::size_t p = first; p < end; ++p) {
        const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + p * kFastScanPairBytes));
        const __m256i lut = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + p * kFastScanPairBytes));
        const __m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(c, low_nibbles));
        const __m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(c, 4), low_nibbles));
        acc[0] = _mm256_add_epi16(acc[0], _mm256_and_si256(lo, low_bytes));
        acc[1] = _mm256_add_epi16(acc[1], _mm256_srli_epi16(lo, 8));
        acc[2] = _mm256_add_epi16(acc[2], _mm256_and_si256(hi, low_bytes));
        acc[3] = _mm256_add_epi16(acc[3], _mm256_srli_epi16(hi, 8));
      }
      for (int h = 0; h < 2; ++h) {
        const __m128i even = _mm_add_epi16(_mm256_castsi256_si128(acc[2 * h]), _mm256_extracti128_si256(acc[2 * h], 1));
        const __m128i odd =
            _mm_add_epi16(_mm256_castsi256_si128(acc[2 * h + 1]), _mm256_extracti128_si256(acc[2 * h + 1], 1));
        // Interleaved back into vector order: 16h + 0 ... 7, then 16h + 8 ... 15.
        total[2 * h] = _mm256_add_epi32(total[2 * h], _mm256_cvtepu16_epi32(_mm_unpacklo_epi16(even, odd)));
        total[2 * h + 1] = _mm256_add_epi32(total[2 * h + 1], _mm256_cvtepu16_epi32(_mm_unpackhi_epi16(even, odd)));
      }
    }
    for (int q = 0; q < 4; ++q) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * kFastScanBlock + 8 * q), total[q]);
    }
  }
}

}  // namespace

namespace detail {
extern const PqFastScanKernels pq_fast_scan_avx2_kernels;
constinit const PqFastScanKernels pq_fast_scan_avx2_kernels = {"avx2", scan_avx2};
}  // namespace detail

}  // namespace quiver::quant
