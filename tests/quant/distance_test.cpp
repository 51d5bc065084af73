// Every kernel of every runnable variant against a double-precision reference, plus
// the variant selection and normalize().
#include "quant/distance.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "quant/float16.h"
#include "quiver/error.h"

namespace quiver::quant {
namespace {

constexpr std::uint16_t kHalfNaN = 0x7e00;
constexpr std::uint16_t kHalfZero = 0x0000;

// Dims 0..80 cover every tail length and loop-count combination of every variant;
// the rest are sizes seen in practice and powers of two with neighbours.
std::vector<std::size_t> test_dims() {
  std::vector<std::size_t> dims;
  for (std::size_t d = 0; d <= 80; ++d) dims.push_back(d);
  for (std::size_t d : {95, 96, 97, 127, 128, 129, 200, 255, 256, 257, 300, 384, 511, 512, 513, 768, 784,
                        960, 1000, 1023, 1024}) {
    dims.push_back(d);
  }
  return dims;
}

double widen(float x) { return x; }
double widen(std::uint16_t h) { return half_to_float(h); }

// The exact result (to double precision) and the sum of the terms' magnitudes.
struct Expected {
  double value = 0;
  double magnitude = 0;
};

template <class TA, class TB>
Expected expect_l2(const TA* a, const TB* b, std::size_t dim) {
  Expected e;
  for (std::size_t i = 0; i < dim; ++i) {
    const double d = widen(a[i]) - widen(b[i]);
    e.value += d * d;
  }
  e.magnitude = e.value;
  return e;
}

template <class TA, class TB>
Expected expect_dot(const TA* a, const TB* b, std::size_t dim) {
  Expected e;
  for (std::size_t i = 0; i < dim; ++i) {
    const double p = widen(a[i]) * widen(b[i]);
    e.value += p;
    e.magnitude += std::abs(p);
  }
  return e;
}

// Float summation of dim rounded (or fused) terms in any order errs by at most about
// (dim + 2) * 2^-24 times the sum of magnitudes; the absolute part allows for terms that
// underflow to subnormals.
bool within_bound(float got, const Expected& e, std::size_t dim) {
  const double bound = 1.01 * static_cast<double>(dim + 3) * 0x1p-24 * e.magnitude +
                       static_cast<double>(dim + 1) * std::numeric_limits<float>::denorm_min();
  return std::abs(static_cast<double>(got) - e.value) <= bound;
}

// An input placed `offset` elements into its own allocation, guarded so a kernel that
// reads outside [0, dim) is caught: NaN before it; after it either NaN (a read that
// reaches the result shows as NaN) or the end of the heap block (AddressSanitizer
// reports the read).
template <class T>
class Placed {
 public:
  Placed(const std::vector<T>& values, std::size_t offset, bool nan_after, T nan)
      : storage_(offset + values.size() + (nan_after ? 16 : 0), nan), offset_(offset) {
    std::copy(values.begin(), values.end(), storage_.begin() + static_cast<std::ptrdiff_t>(offset));
  }
  const T* data() const { return storage_.data() + offset_; }

 private:
  std::vector<T> storage_;
  std::size_t offset_;
};

struct Inputs {
  std::vector<float> a, b;
  std::vector<std::uint16_t> ha, hb;
};

Inputs make_inputs(std::mt19937& rng, std::size_t dim, float scale, float shift) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Inputs in;
  for (std::size_t i = 0; i < dim; ++i) {
    in.a.push_back(shift + scale * normal(rng));
    in.b.push_back(scale * normal(rng));
  }
  in.ha.resize(dim);
  in.hb.resize(dim);
  floats_to_halves(in.a, in.ha);
  floats_to_halves(in.b, in.hb);
  return in;
}

// Runs all six kernels of k on `in` at the given offsets and checks each against the
// reference bound.
void check_all_kernels(const DistanceKernels& k, const Inputs& in, std::size_t offset_a, std::size_t offset_b,
                       bool nan_after) {
  const std::size_t dim = in.a.size();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Placed<float> a(in.a, offset_a, nan_after, nan);
  const Placed<float> b(in.b, offset_b, nan_after, nan);
  const Placed<std::uint16_t> ha(in.ha, offset_a, nan_after, kHalfNaN);
  const Placed<std::uint16_t> hb(in.hb, offset_b, nan_after, kHalfNaN);
  INFO("isa=", k.isa, " dim=", dim, " offsets=", offset_a, ",", offset_b, " nan_after=", nan_after);

  CHECK(within_bound(k.l2_sq(a.data(), b.data(), dim), expect_l2(a.data(), b.data(), dim), dim));
  CHECK(within_bound(k.dot(a.data(), b.data(), dim), expect_dot(a.data(), b.data(), dim), dim));
  CHECK(within_bound(k.l2_sq_f16(a.data(), hb.data(), dim), expect_l2(a.data(), hb.data(), dim), dim));
  CHECK(within_bound(k.dot_f16(a.data(), hb.data(), dim), expect_dot(a.data(), hb.data(), dim), dim));
  CHECK(within_bound(k.l2_sq_f16f16(ha.data(), hb.data(), dim), expect_l2(ha.data(), hb.data(), dim), dim));
  CHECK(within_bound(k.dot_f16f16(ha.data(), hb.data(), dim), expect_dot(ha.data(), hb.data(), dim), dim));
}

TEST_CASE("every variant matches the double reference on random vectors, any dim and alignment") {
  std::mt19937 rng(20240611);
  for (const DistanceKernels* k : supported_kernels()) {
    for (std::size_t dim : test_dims()) {
      // A shifted mean makes dot products cancel, and the bound must still hold.
      const Inputs in = make_inputs(rng, dim, 1.0f, dim % 2 == 0 ? 0.0f : 0.5f);
      for (std::size_t offset = 0; offset < 16; ++offset) {
        check_all_kernels(*k, in, offset, (offset * 7 + 3) % 16, offset % 2 == 1);
      }
    }
  }
}

TEST_CASE("every variant stays within the bound at large and small magnitudes and for negative inputs") {
  std::mt19937 rng(7);
  for (const DistanceKernels* k : supported_kernels()) {
    for (std::size_t dim : {1, 7, 16, 33, 100, 784, 1024}) {
      // 1e15: squares near 1e30, sums near 1e33, far from float overflow.
      Inputs big = make_inputs(rng, dim, 1e15f, 0.0f);
      // Half-range extremes for the f16 inputs: up to +-65504 once rounded.
      std::uniform_real_distribution<float> wide(-65504.0f, 65504.0f);
      for (std::size_t i = 0; i < dim; ++i) {
        big.ha[i] = float_to_half(wide(rng));
        big.hb[i] = float_to_half(wide(rng));
      }
      check_all_kernels(*k, big, 1, 2, false);
      check_all_kernels(*k, make_inputs(rng, dim, 1e-3f, 0.0f), 3, 0, true);
      Inputs negative = make_inputs(rng, dim, 1.0f, 0.0f);
      for (float& x : negative.a) x = -std::abs(x) - 1.0f;
      for (float& x : negative.b) x = -std::abs(x);
      floats_to_halves(negative.a, negative.ha);
      floats_to_halves(negative.b, negative.hb);
      check_all_kernels(*k, negative, 5, 11, false);
    }
  }
}

// A missed element gives 0, a doubly counted one 18 or 6: exact checks that every
// position of every tail and loop shape is read once.
TEST_CASE("every position contributes exactly once") {
  std::vector<std::size_t> dims;
  for (std::size_t d = 1; d <= 80; ++d) dims.push_back(d);
  for (std::size_t d : {127, 128, 129, 784, 1024}) dims.push_back(d);
  const std::uint16_t half_three = float_to_half(3.0f);
  const std::uint16_t half_one = float_to_half(1.0f);
  for (const DistanceKernels* k : supported_kernels()) {
    for (std::size_t dim : dims) {
      std::vector<float> zeros(dim + 1, 0.0f);
      std::vector<float> ones(dim + 1, 1.0f);
      std::vector<std::uint16_t> hzeros(dim + 1, kHalfZero);
      std::vector<std::uint16_t> hones(dim + 1, half_one);
      for (std::size_t p = 0; p < dim; ++p) {
        std::vector<float> a(dim + 1, 0.0f);
        std::vector<std::uint16_t> ha(dim + 1, kHalfZero);
        a[p + 1] = 3.0f;  // +1: also unaligned
        ha[p + 1] = half_three;
        INFO("isa=", k->isa, " dim=", dim, " position=", p);
        CHECK(k->l2_sq(a.data() + 1, zeros.data() + 1, dim) == 9.0f);
        CHECK(k->dot(a.data() + 1, ones.data() + 1, dim) == 3.0f);
        CHECK(k->l2_sq_f16(a.data() + 1, hzeros.data() + 1, dim) == 9.0f);
        CHECK(k->dot_f16(a.data() + 1, hones.data() + 1, dim) == 3.0f);
        CHECK(k->l2_sq_f16f16(ha.data() + 1, hzeros.data() + 1, dim) == 9.0f);
        CHECK(k->dot_f16f16(ha.data() + 1, hones.data() + 1, dim) == 3.0f);
      }
    }
  }
}

// Random vectors rarely hold subnormal, infinite or NaN halves; this widens every one
// of the 65536 bit patterns, in every lane position of a 37-element vector.
TEST_CASE("f16 kernels widen every half exactly") {
  constexpr std::size_t kDim = 37;
  const std::vector<float> ones(kDim, 1.0f);
  const std::vector<std::uint16_t> half_ones(kDim, float_to_half(1.0f));
  for (const DistanceKernels* k : supported_kernels()) {
    for (std::uint32_t i = 0; i <= 0xffff; ++i) {
      const auto h = static_cast<std::uint16_t>(i);
      std::vector<std::uint16_t> stored(kDim, kHalfZero);
      stored[i % kDim] = h;
      const float expected = half_to_float(h);
      const float via_f32 = k->dot_f16(ones.data(), stored.data(), kDim);
      const float via_f16 = k->dot_f16f16(half_ones.data(), stored.data(), kDim);
      INFO("isa=", k->isa, " half=", i);
      if (std::isnan(expected)) {
        REQUIRE(std::isnan(via_f32));
        REQUIRE(std::isnan(via_f16));
      } else {
        REQUIRE(via_f32 == expected);
        REQUIRE(via_f16 == expected);
      }
    }
  }
}

TEST_CASE("zero-length, all-zero and identical inputs give exactly zero distance") {
  std::mt19937 rng(3);
  for (const DistanceKernels* k : supported_kernels()) {
    INFO("isa=", k->isa);
    CHECK(k->l2_sq(nullptr, nullptr, 0) == 0.0f);
    CHECK(k->dot(nullptr, nullptr, 0) == 0.0f);
    CHECK(k->l2_sq_f16(nullptr, nullptr, 0) == 0.0f);
    CHECK(k->dot_f16(nullptr, nullptr, 0) == 0.0f);
    CHECK(k->l2_sq_f16f16(nullptr, nullptr, 0) == 0.0f);
    CHECK(k->dot_f16f16(nullptr, nullptr, 0) == 0.0f);
    for (std::size_t dim : {1, 5, 17, 64, 100, 784}) {
      INFO("dim=", dim);
      const std::vector<float> zeros(dim, 0.0f);
      const std::vector<std::uint16_t> hzeros(dim, kHalfZero);
      CHECK(k->l2_sq(zeros.data(), zeros.data(), dim) == 0.0f);
      CHECK(k->dot(zeros.data(), zeros.data(), dim) == 0.0f);
      CHECK(k->dot_f16f16(hzeros.data(), hzeros.data(), dim) == 0.0f);

      const Inputs in = make_inputs(rng, dim, 10.0f, 0.0f);
      std::vector<float> widened(dim);
      halves_to_floats(in.ha, widened);
      CHECK(k->l2_sq(in.a.data(), in.a.data(), dim) == 0.0f);
      CHECK(k->l2_sq_f16(widened.data(), in.ha.data(), dim) == 0.0f);
      CHECK(k->l2_sq_f16f16(in.ha.data(), in.ha.data(), dim) == 0.0f);
      CHECK(k->dot(in.a.data(), zeros.data(), dim) == 0.0f);
    }
  }
}

TEST_CASE("overflowing sums are +inf in every variant, never NaN") {
  for (const DistanceKernels* k : supported_kernels()) {
    for (std::size_t dim : {1, 3, 16, 40, 784}) {
      INFO("isa=", k->isa, " dim=", dim);
      const std::vector<float> a(dim, 1e20f);
      const std::vector<float> b(dim, -1e20f);
      CHECK(k->l2_sq(a.data(), b.data(), dim) == std::numeric_limits<float>::infinity());
      CHECK(k->dot(a.data(), a.data(), dim) == std::numeric_limits<float>::infinity());
      CHECK(k->dot(a.data(), b.data(), dim) == -std::numeric_limits<float>::infinity());
    }
  }
}

TEST_CASE("supported_kernels lists runnable variants best first, scalar last") {
  const std::vector<const DistanceKernels*> all = supported_kernels();
  REQUIRE(!all.empty());
  CHECK(all.back() == &scalar_kernels());
  CHECK(std::string(scalar_kernels().isa) == "scalar");
  const std::vector<std::string> order = {"avx512", "avx2", "sse4", "neon", "scalar"};
  std::size_t previous = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto rank = static_cast<std::size_t>(std::find(order.begin(), order.end(), all[i]->isa) - order.begin());
    INFO("isa=", all[i]->isa);
    REQUIRE(rank < order.size());
    if (i > 0) CHECK(rank > previous);
    previous = rank;
    const DistanceKernels& k = *all[i];
    const bool complete = k.l2_sq && k.dot && k.l2_sq_f16 && k.dot_f16 && k.l2_sq_f16f16 && k.dot_f16f16;
    CHECK(complete);
  }
}

bool is_supported(const std::string& isa) {
  for (const DistanceKernels* k : supported_kernels()) {
    if (isa == k->isa) return true;
  }
  return false;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The compiler runtime's detection (which also checks the OS enabled the registers)
// must agree with quiver's own.
TEST_CASE("x86 variants are offered exactly when built and the CPU supports their extensions") {
  __builtin_cpu_init();
  const bool sse4 = __builtin_cpu_supports("sse3") && __builtin_cpu_supports("ssse3") &&
                    __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("sse4.2");
#if defined(__clang__)
  const bool f16c = true;  // clang's builtin knows no "f16c"; every AVX2 CPU has it
#else
  const bool f16c = __builtin_cpu_supports("f16c");
#endif
  const bool avx2 = sse4 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#if defined(QUIVER_TEST_AVX512_BUILT)
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  const bool avx512 = false;  // configured with QUIVER_AVX512=OFF: not compiled in
#endif
  CHECK(is_supported("sse4") == sse4);
  CHECK(is_supported("avx2") == avx2);
  CHECK(is_supported("avx512") == avx512);
  CHECK_FALSE(is_supported("neon"));
}
#endif

TEST_CASE("kernels_for_isa returns each supported variant and rejects the rest by name") {
  for (const DistanceKernels* k : supported_kernels()) CHECK(&kernels_for_isa(k->isa) == k);
  CHECK(&kernels_for_isa("scalar") == &scalar_kernels());

  for (const char* name : {"avx512", "avx2", "sse4", "neon"}) {
    INFO("isa=", name);
    if (!is_supported(name)) CHECK_THROWS_AS(kernels_for_isa(name), InvalidArgument);
  }
  for (const char* name : {"", "AVX2", "avx", "sse2", "scalar ", "avx512f"}) {
    INFO("isa='", name, "'");
    CHECK_THROWS_AS(kernels_for_isa(name), InvalidArgument);
  }
  try {
    kernels_for_isa("bogus");
    FAIL("expected InvalidArgument");
  } catch (const InvalidArgument& e) {
    const std::string message = e.what();
    CHECK(message.find("'bogus'") != std::string::npos);
    for (const DistanceKernels* k : supported_kernels()) CHECK(message.find(k->isa) != std::string::npos);
  }
}

// CTest runs this case once per QUIVER_ISA value (see CMakeLists.txt); kernels() reads
// the variable once per process, so each value needs its own process.
TEST_CASE("kernels() is the QUIVER_ISA variant if set and runnable, throws if not, else the best") {
  const char* requested = std::getenv("QUIVER_ISA");
  if (requested == nullptr || *requested == '\0') {
    CHECK(&kernels() == supported_kernels().front());
  } else if (is_supported(requested)) {
    CHECK(&kernels() == &kernels_for_isa(requested));
  } else {
    for (int attempt = 0; attempt < 2; ++attempt) {  // a failed choice is not cached
      try {
        kernels();
        FAIL("expected InvalidArgument for QUIVER_ISA=", requested);
      } catch (const InvalidArgument& e) {
        CHECK(std::string(e.what()).find("QUIVER_ISA") != std::string::npos);
      }
    }
  }
}

TEST_CASE("normalize scales to unit norm in the same direction; zero stays zero") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float scale : {1.0f, 1e-30f, 1e30f, 3e38f}) {
    for (std::size_t dim : {1, 2, 17, 784}) {
      INFO("scale=", scale, " dim=", dim);
      std::vector<float> v(dim);
      for (float& x : v) x = std::clamp(scale * normal(rng), -3e38f, 3e38f);
      const std::vector<float> original = v;
      normalize(v);
      double norm = 0;
      for (float x : v) norm += static_cast<double>(x) * x;
      CHECK(std::abs(std::sqrt(norm) - 1.0) < 1e-6);
      // Same direction: every coordinate scaled by the same positive factor.
      const double factor = static_cast<double>(v[0]) / original[0];
      CHECK(factor > 0);
      for (std::size_t i = 0; i < dim; ++i) {
        CHECK(std::abs(v[i] - factor * original[i]) <= 1e-6 * std::abs(factor * original[i]) + 1e-45);
      }
    }
  }
  std::vector<float> zero(10, 0.0f);
  normalize(zero);
  CHECK(std::all_of(zero.begin(), zero.end(), [](float x) { return x == 0.0f; }));
  std::vector<float> empty;
  normalize(empty);
  CHECK(empty.empty());
}

}  // namespace
}  // namespace quiver::quant
