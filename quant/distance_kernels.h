// The loop shared by every SIMD variant of distance.h. Included only by the
// quant/distance_<isa>.cpp files, each compiled with its own -m flags.
//
// Everything here sits in an anonymous namespace and is instantiated with an `Isa`
// policy that each of those files defines in its own anonymous namespace, so every
// function has internal linkage: the linker can never merge an AVX-512 copy with the
// copy another file calls on a CPU without AVX-512.
//
// An Isa provides:
//   using batch = xsimd::batch<float, Arch>;
//   static batch load(const float*) / load(const std::uint16_t*)       full batch
//   static batch load_tail(const float*, n) / load_tail(const uint16_t*, n)
//                 the first n < batch::size elements, the rest zero, nothing read past n
//   static float sum(batch)                                            horizontal add
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/distance.h"

namespace quiver::quant::simd {
namespace {

struct L2 {
  template <class B>
  static B step(B x, B y, B acc) {
    const B d = x - y;
    return xsimd::fma(d, d, acc);
  }
};

struct Dot {
  template <class B>
  static B step(B x, B y, B acc) {
    return xsimd::fma(x, y, acc);
  }
};

// Four independent accumulators hide the FMA latency (4 cycles at 2 per cycle would
// want 8, but two loads per step cap throughput at one step per cycle anyway). Zeroed
// tail lanes add 0 to both metrics.
template <class Isa, class Metric, class TA, class TB>
float reduce(const TA* a, const TB* b, std::size_t dim) {
  using batch = typename Isa::batch;
  constexpr std::size_t kLanes = batch::size;
  batch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
  std::size_t i = 0;
  for (; i + 4 * kLanes <= dim; i += 4 * kLanes) {
    s0 = Metric::step(Isa::load(a + i), Isa::load(b + i), s0);
    s1 = Metric::step(Isa::load(a + i + kLanes), Isa::load(b + i + kLanes), s1);
    s2 = Metric::step(Isa::load(a + i + 2 * kLanes), Isa::load(b + i + 2 * kLanes), s2);
    s3 = Metric::step(Isa::load(a + i + 3 * kLanes), Isa::load(b + i + 3 * kLanes), s3);
  }
  if (i + 2 * kLanes <= dim) {
    s0 = Metric::step(Isa::load(a + i), Isa::load(b + i), s0);
    s1 = Metric::step(Isa::load(a + i + kLanes), Isa::load(b + i + kLanes), s1);
    i += 2 * kLanes;
  }
  if (i + kLanes <= dim) {
    s2 = Metric::step(Isa::load(a + i), Isa::load(b + i), s2);
    i += kLanes;
  }
  if (i < dim) {
    s3 = Metric::step(Isa::load_tail(a + i, dim - i), Isa::load_tail(b + i, dim - i), s3);
  }
  return Isa::sum((s0 + s1) + (s2 + s3));
}

template <class Isa>
constexpr DistanceKernels make_kernels(const char* name) {
  return DistanceKernels{
      name,
      &reduce<Isa, L2, float, float>,
      &reduce<Isa, Dot, float, float>,
      &reduce<Isa, L2, float, std::uint16_t>,
      &reduce<Isa, Dot, float, std::uint16_t>,
      &reduce<Isa, L2, std::uint16_t, std::uint16_t>,
      &reduce<Isa, Dot, std::uint16_t, std::uint16_t>,
  };
}

}  // namespace
}  // namespace quiver::quant::simd
