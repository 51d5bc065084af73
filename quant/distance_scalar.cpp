// Portable distance kernels: the reference the SIMD variants are tested against, and
// the fallback on CPUs without any of them. Built with the baseline flags.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/distance.h"
#include "quant/float16.h"

namespace quiver::quant {
namespace {

struct L2 {
  static float term(float x, float y) { return (x - y) * (x - y); }
};
struct Dot {
  static float term(float x, float y) { return x * y; }
};

// Halves are widened a block at a time by float16.cpp's bulk conversion, whose loop
// inlines the conversion: a call per element would cost more than the arithmetic.
constexpr std::size_t kBlock = 64;

const float* widen(const float* p, std::size_t, float*) { return p; }
const float* widen(const std::uint16_t* p, std::size_t n, float* buffer) {
  halves_to_floats({p, n}, {buffer, n});
  return buffer;
}

// Four partial sums: still plain scalar code, but not one long dependency chain.
template <class Metric, class TA, class TB>
float reduce(const TA* a, const TB* b, std::size_t dim) {
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  float a_buffer[kBlock];
  float b_buffer[kBlock];
  for (std::size_t start = 0; start < dim; start += kBlock) {
    const std::size_t n = std::min(kBlock, dim - start);
    const float* x = widen(a + start, n, a_buffer);
    const float* y = widen(b + start, n, b_buffer);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      for (std::size_t j = 0; j < 4; ++j) s[j] += Metric::term(x[i + j], y[i + j]);
    }
    for (; i < n; ++i) s[0] += Metric::term(x[i], y[i]);
  }
  return (s[0] + s[1]) + (s[2] + s[3]);
}

constexpr DistanceKernels kScalar{
    "scalar",
    &reduce<L2, float, float>,
    &reduce<Dot, float, float>,
    &reduce<L2, float, std::uint16_t>,
    &reduce<Dot, float, std::uint16_t>,
    &reduce<L2, std::uint16_t, std::uint16_t>,
    &reduce<Dot, std::uint16_t, std::uint16_t>,
};

}  // namespace

const DistanceKernels& scalar_kernels() { return kScalar; }

}  // namespace quiver::quant
