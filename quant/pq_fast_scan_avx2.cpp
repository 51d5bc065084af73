// AVX2 fast-scan kernel, built with -mavx2; pq_fast_scan.cpp hands it out only where
// distance.cpp found AVX2 usable. No inline or template code of its own may escape this
// file (tests/quant/check_isa_symbols.cmake): everything here has internal linkage, hence
// no std::min and the like.
#include <immintrin.h>

#include <cstring>

#include "quant/pq_fast_scan.h"

namespace quiver::quant {
namespace {

// Sub-space pairs summed in 16-bit lanes before widening: each lane then holds at most
// 128 * 255 and the two halves of a register at most 2 * 128 * 255 = 65280 < 2^16.
constexpr std::size_t kPairsPer16Bit = 128;

// Adds the sums of pairs [0, pairs) of one block (pairs <= kPairsPer16Bit) to total:
// total[q] holds vectors 8q ... 8q + 7 as 32-bit lanes.
inline void accumulate_block(const std::uint8_t* block, std::size_t pairs, const std::uint8_t* table,
                             __m256i total[4]) {
  const __m256i low_nibbles = _mm256_set1_epi8(0x0f);
  const __m256i low_bytes = _mm256_set1_epi16(0x00ff);
  // acc[0]: vectors 0, 2, ..., 14; acc[1]: 1, 3, ..., 15; acc[2], acc[3]: the same for
  // 16 ... 31. The low 128-bit lane sums even sub-spaces, the high lane odd ones.
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  for (std::size_t p = 0; p < pairs; ++p) {
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

void scan_avx2(const std::uint8_t* codes, std::size_t blocks, std::size_t pairs, const std::uint8_t* table,
               std::uint32_t* out) {
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint8_t* block = codes + b * pairs * kFastScanPairBytes;
    __m256i total[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                        _mm256_setzero_si256()};
    for (std::size_t first = 0; first < pairs; first += kPairsPer16Bit) {
      const std::size_t count = pairs - first < kPairsPer16Bit ? pairs - first : kPairsPer16Bit;
      accumulate_block(block + first * kFastScanPairBytes, count, table + first * kFastScanPairBytes, total);
    }
    for (int q = 0; q < 4; ++q) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * kFastScanBlock + 8 * q), total[q]);
    }
  }
}

// Transposes 16 registers of 16 bytes in place: byte j of register r goes to byte r of
// register j. Each round interleaves register k with k + 8, which rotates the 8-bit
// (register, byte) index left by one bit; four rounds swap its halves.
inline void transpose_16x16(__m128i rows[16]) {
  for (int round = 0; round < 4; ++round) {
    __m128i next[16];
    for (int k = 0; k < 8; ++k) {
      next[2 * k] = _mm_unpacklo_epi8(rows[k], rows[k + 8]);
      next[2 * k + 1] = _mm_unpackhi_epi8(rows[k], rows[k + 8]);
    }
    for (int k = 0; k < 16; ++k) rows[k] = next[k];
  }
}

// Bytes [first, first + width) of 16 rows (rows past `count` are zero), transposed: byte
// r of out[j] is byte first + j of row r. Rows are read only within their `width` bytes.
inline void load_transposed(const std::uint8_t* const* rows, std::size_t count, std::size_t first, std::size_t width,
                            __m128i out[16]) {
  for (std::size_t r = 0; r < 16; ++r) {
    if (r >= count) {
      out[r] = _mm_setzero_si128();
    } else if (width == 16) {
      out[r] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r] + first));
    } else {
      alignas(16) std::uint8_t partial[16] = {};
      std::memcpy(partial, rows[r] + first, width);
      out[r] = _mm_load_si128(reinterpret_cast<const __m128i*>(partial));
    }
  }
  transpose_16x16(out);
}

void scan_rows_avx2(const std::uint8_t* const* rows, std::size_t count, std::size_t pairs, const std::uint8_t* table,
                    std::uint32_t* out) {
  const __m128i low_nibbles = _mm_set1_epi8(0x0f);
  const __m128i high_nibbles = _mm_set1_epi8(static_cast<char>(0xf0));
  for (std::size_t start = 0; start < count; start += kFastScanBlock) {
    const std::size_t in_block = count - start < kFastScanBlock ? count - start : kFastScanBlock;
    const std::uint8_t* const* block_rows = rows + start;
    __m256i total[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                        _mm256_setzero_si256()};
    // Sixteen pairs at a time: one 16 x 16 transpose per half block of rows, then the
    // block layout of pq_codes.h (vector j's nibble low, vector j + 16's high).
    for (std::size_t first = 0; first < pairs; first += 16) {
      const std::size_t width = pairs - first < 16 ? pairs - first : 16;
      __m128i low_rows[16];
      __m128i high_rows[16];
      load_transposed(block_rows, in_block, first, width, low_rows);
      if (in_block > 16) {
        load_transposed(block_rows + 16, in_block - 16, first, width, high_rows);
      } else {
        for (auto& row : high_rows) row = _mm_setzero_si128();
      }
      alignas(32) std::uint8_t block[16 * kFastScanPairBytes];
      for (std::size_t p = 0; p < width; ++p) {
        const __m128i even = _mm_or_si128(_mm_and_si128(low_rows[p], low_nibbles),
                                          _mm_slli_epi16(_mm_and_si128(high_rows[p], low_nibbles), 4));
        const __m128i odd = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(low_rows[p], 4), low_nibbles),
                                         _mm_and_si128(high_rows[p], high_nibbles));
        _mm_store_si128(reinterpret_cast<__m128i*>(block + p * kFastScanPairBytes), even);
        _mm_store_si128(reinterpret_cast<__m128i*>(block + p * kFastScanPairBytes + 16), odd);
      }
      accumulate_block(block, width, table + first * kFastScanPairBytes, total);
    }
    alignas(32) std::uint32_t sums[kFastScanBlock];
    for (int q = 0; q < 4; ++q) _mm256_store_si256(reinterpret_cast<__m256i*>(sums + 8 * q), total[q]);
    std::memcpy(out + start, sums, in_block * sizeof(std::uint32_t));
  }
}

}  // namespace

namespace detail {
extern const PqFastScanKernels pq_fast_scan_avx2_kernels;
constinit const PqFastScanKernels pq_fast_scan_avx2_kernels = {"avx2", scan_avx2, scan_rows_avx2};
}  // namespace detail

}  // namespace quiver::quant
