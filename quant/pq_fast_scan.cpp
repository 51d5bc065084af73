// Quantizes lookup tables and picks the fast-scan kernel. Built with baseline flags; the
// CPU checks are distance.cpp's, so the AVX2 kernel runs only where AVX2 was confirmed.
#include "quant/pq_fast_scan.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "quant/distance.h"
#include "quiver/error.h"

namespace quiver::quant {

namespace detail {
extern const PqFastScanKernels pq_fast_scan_scalar_kernels;
#if QUIVER_QUANT_HAVE_AVX2
extern const PqFastScanKernels pq_fast_scan_avx2_kernels;
#endif
}  // namespace detail

PqFastScanLut quantize_lut(std::span<const float> lut, std::size_t sub_spaces) {
  if (sub_spaces == 0 || lut.size() != sub_spaces * 16) {
    throw InvalidArgument("quantize_lut: " + std::to_string(lut.size()) + " table entries for " +
                          std::to_string(sub_spaces) + " sub-spaces; expected 16 per sub-space");
  }
  PqFastScanLut out;
  out.sub_spaces = sub_spaces;
  out.table.assign((sub_spaces + 1) / 2 * kFastScanPairBytes, 0);
  std::vector<float> minima(sub_spaces);
  float widest = 0;
  for (std::size_t m = 0; m < sub_spaces; ++m) {
    const auto row = lut.subspan(m * 16, 16);
    const auto [low, high] = std::minmax_element(row.begin(), row.end());
    minima[m] = *low;
    widest = std::max(widest, *high - *low);
    out.bias += *low;
  }
  // One scale for all sub-spaces keeps byte sums proportional to float sums; the widest
  // sub-space range spans the full byte.
  out.scale = widest > 0 ? widest / 255.0f : 1.0f;
  for (std::size_t m = 0; m < sub_spaces; ++m) {
    for (std::size_t c = 0; c < 16; ++c) {
      const float steps = std::round((lut[m * 16 + c] - minima[m]) / out.scale);
      out.table[m * 16 + c] = static_cast<std::uint8_t>(std::clamp(steps, 0.0f, 255.0f));
    }
  }
  return out;
}

const PqFastScanKernels& pq_fast_scan_kernels_for_isa(std::string_view isa) {
  const std::string_view checked = kernels_for_isa(isa).isa;  // throws unless runnable here
#if QUIVER_QUANT_HAVE_AVX2
  // An AVX-512 CPU has AVX2; 256-bit shuffles already saturate the loads here.
  if (checked == "avx2" || checked == "avx512") return detail::pq_fast_scan_avx2_kernels;
#endif
  (void)checked;
  return detail::pq_fast_scan_scalar_kernels;
}

const PqFastScanKernels& pq_fast_scan_kernels() {
  static const PqFastScanKernels& chosen = pq_fast_scan_kernels_for_isa(kernels().isa);
  return chosen;
}

}  // namespace quiver::quant
