// Portable fast-scan kernel: the reference the SIMD variants must match exactly, and the
// fallback for CPUs without one. Built with the baseline flags.
#include "quant/pq_fast_scan.h"

namespace quiver::quant {
namespace {

void scan_scalar(const std::uint8_t* codes, std::size_t blocks, std::size_t pairs, const std::uint8_t* table,
                 std::uint32_t* out) {
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint8_t* block = codes + b * pairs * kFastScanPairBytes;
    std::uint32_t* sums = out + b * kFastScanBlock;
    for (std::size_t j = 0; j < kFastScanBlock; ++j) sums[j] = 0;
    for (std::size_t p = 0; p < pairs; ++p) {
      const std::uint8_t* pair = block + p * kFastScanPairBytes;
      const std::uint8_t* lut = table + p * kFastScanPairBytes;
      for (std::size_t half = 0; half < 2; ++half) {
        for (std::size_t j = 0; j < 16; ++j) {
          const unsigned byte = pair[half * 16 + j];
          sums[j] += lut[half * 16 + (byte & 0xfu)];
          sums[j + 16] += lut[half * 16 + (byte >> 4)];
        }
      }
    }
  }
}

void scan_rows_scalar(const std::uint8_t* const* rows, std::size_t count, std::size_t pairs, const std::uint8_t* table,
                      std::uint32_t* out) {
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t sum = 0;
    for (std::size_t p = 0; p < pairs; ++p) {
      const unsigned byte = rows[i][p];
      sum += table[p * kFastScanPairBytes + (byte & 0xfu)] + table[p * kFastScanPairBytes + 16 + (byte >> 4)];
    }
    out[i] = sum;
  }
}

}  // namespace

namespace detail {
extern const PqFastScanKernels pq_fast_scan_scalar_kernels;
constinit const PqFastScanKernels pq_fast_scan_scalar_kernels = {"scalar", scan_scalar, scan_rows_scalar};
}  // namespace detail

}  // namespace quiver::quant
