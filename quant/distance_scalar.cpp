// Portable distance kernels: the reference the SIMD variants are tested against, and
// the fallback on CPUs without any of them. Built with the baseline flags.
#include <cstddef>
#include <cstdint>

#include "quant/distance.h"
#include "quant/float16.h"

namespace quiver::quant {
namespace {

struct FromFloat {
  static float get(const float* p, std::size_t i) { return p[i]; }
};
struct FromHalf {
  static float get(const std::uint16_t* p, std::size_t i) { return half_to_float(p[i]); }
};

struct L2 {
  static float term(float x, float y) { return (x - y) * (x - y); }
};
struct Dot {
  static float term(float x, float y) { return x * y; }
};

// Four partial sums: still plain scalar code, but not one long dependency chain.
template <class Metric, class GetA, class GetB, class TA, class TB>
float reduce(const TA* a, const TB* b, std::size_t dim) {
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  std::size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    for (std::size_t j = 0; j < 4; ++j) s[j] += Metric::term(GetA::get(a, i + j), GetB::get(b, i + j));
  }
  for (; i < dim; ++i) s[0] += Metric::term(GetA::get(a, i), GetB::get(b, i));
  return (s[0] + s[1]) + (s[2] + s[3]);
}

constexpr DistanceKernels kScalar{
    "scalar",
    &reduce<L2, FromFloat, FromFloat, float, float>,
    &reduce<Dot, FromFloat, FromFloat, float, float>,
    &reduce<L2, FromFloat, FromHalf, float, std::uint16_t>,
    &reduce<Dot, FromFloat, FromHalf, float, std::uint16_t>,
    &reduce<L2, FromHalf, FromHalf, std::uint16_t, std::uint16_t>,
    &reduce<Dot, FromHalf, FromHalf, std::uint16_t, std::uint16_t>,
};

}  // namespace

const DistanceKernels& scalar_kernels() { return kScalar; }

}  // namespace quiver::quant
