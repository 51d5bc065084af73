// float16 conversion: exhaustive over all 65536 halves, every rounding tie, the
// overflow and underflow edges, and (where the CPU has it) bit-for-bit against F16C.
#include "quant/float16.h"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "quiver/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define QUIVER_TEST_F16C 1
#endif

namespace quiver::quant {
namespace {

bool is_half_nan(std::uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0; }

// The value a half encodes, from the IEEE definition (independent of the bit tricks).
double half_value(std::uint16_t h) {
  const double sign = (h & 0x8000) != 0 ? -1.0 : 1.0;
  const int exp = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exp == 0x1f) return mantissa == 0 ? sign * INFINITY : NAN;
  if (exp == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exp - 25);
}

TEST_CASE("half_to_float is exact for every half") {
  for (std::uint32_t i = 0; i <= 0xffff; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    const float f = half_to_float(h);
    INFO("half=", i);
    if (is_half_nan(h)) {
      REQUIRE(std::isnan(f));
      CHECK(std::signbit(f) == ((h & 0x8000) != 0));
      // Payload kept in the top mantissa bits.
      CHECK(((std::bit_cast<std::uint32_t>(f) >> 13) & 0x1ff) == (h & 0x1ffu));
    } else {
      REQUIRE(static_cast<double>(f) == half_value(h));
      CHECK(std::signbit(f) == ((h & 0x8000) != 0));  // -0 stays -0
    }
  }
}

TEST_CASE("float_to_half inverts half_to_float for every half; NaN stays NaN") {
  for (std::uint32_t i = 0; i <= 0xffff; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    const std::uint16_t back = float_to_half(half_to_float(h));
    INFO("half=", i, " back=", back);
    if (is_half_nan(h)) {
      CHECK(is_half_nan(back));
      CHECK((back & 0x8000) == (h & 0x8000));
      CHECK((back & 0x1ff) == (h & 0x1ff));
    } else {
      CHECK(back == h);
    }
  }
}

TEST_CASE("float_to_half rounds to nearest, ties to even, across the whole finite range") {
  // Consecutive finite halves h, h+1 of either sign: their midpoint is exact in float.
  for (std::uint32_t sign : {0x0000u, 0x8000u}) {
    for (std::uint32_t m = 0; m < 0x7bff; ++m) {
      const auto lo = static_cast<std::uint16_t>(sign | m);
      const auto hi = static_cast<std::uint16_t>(sign | (m + 1));
      const float a = half_to_float(lo);
      const float b = half_to_float(hi);
      const float mid = static_cast<float>((static_cast<double>(a) + b) / 2);
      REQUIRE(static_cast<double>(mid) == (static_cast<double>(a) + b) / 2);
      INFO("between ", lo, " and ", hi);
      CHECK(float_to_half(mid) == ((lo & 1) == 0 ? lo : hi));
      CHECK(float_to_half(std::nextafter(mid, a)) == lo);
      CHECK(float_to_half(std::nextafter(mid, b)) == hi);
    }
  }
}

TEST_CASE("float_to_half overflows to infinity at 65520, the tie above the largest half") {
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(std::nextafter(65520.0f, 0.0f)) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);
  CHECK(float_to_half(-65520.0f) == 0xfc00);
  CHECK(float_to_half(1e5f) == 0x7c00);
  CHECK(float_to_half(std::numeric_limits<float>::max()) == 0x7c00);
  CHECK(float_to_half(-std::numeric_limits<float>::max()) == 0xfc00);
  CHECK(float_to_half(std::numeric_limits<float>::infinity()) == 0x7c00);
  CHECK(float_to_half(-std::numeric_limits<float>::infinity()) == 0xfc00);
}

TEST_CASE("float_to_half produces subnormals and signed zero below the normal range") {
  CHECK(float_to_half(0.0f) == 0x0000);
  CHECK(float_to_half(-0.0f) == 0x8000);
  CHECK(float_to_half(0x1p-24f) == 0x0001);                    // least subnormal
  CHECK(float_to_half(0x1p-25f) == 0x0000);                    // tie with zero: even
  CHECK(float_to_half(std::nextafter(0x1p-25f, 1.0f)) == 0x0001);
  CHECK(float_to_half(0x3p-25f) == 0x0002);                    // 1.5 units: tie, even is 2
  CHECK(float_to_half(0x1.ff8p-15f) == 0x03ff);                // largest subnormal
  CHECK(float_to_half(0x1.ffcp-15f) == 0x0400);                // tie: rounds up into the least normal
  CHECK(float_to_half(std::nextafter(0x1.ffcp-15f, 0.0f)) == 0x03ff);
  CHECK(float_to_half(0x1p-14f) == 0x0400);
  CHECK(float_to_half(1e-10f) == 0x0000);
  CHECK(float_to_half(-1e-10f) == 0x8000);
  CHECK(float_to_half(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(float_to_half(-std::numeric_limits<float>::denorm_min()) == 0x8000);
}

TEST_CASE("float_to_half keeps NaN a NaN with its sign") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(is_half_nan(float_to_half(nan)));
  CHECK(is_half_nan(float_to_half(-nan)));
  CHECK((float_to_half(-nan) & 0x8000) != 0);
  // A payload only in the low float bits must not turn into infinity.
  CHECK(is_half_nan(float_to_half(std::bit_cast<float>(0x7f800001u))));
  CHECK(is_half_nan(float_to_half(std::bit_cast<float>(0xff800001u))));
}

TEST_CASE("bulk conversions match the scalar ones and reject mismatched sizes") {
  std::mt19937 rng(5);
  std::uniform_int_distribution<std::uint32_t> bits;
  std::vector<float> floats(1000);
  for (float& f : floats) f = std::bit_cast<float>(bits(rng));
  std::vector<std::uint16_t> halves(floats.size());
  floats_to_halves(floats, halves);
  for (std::size_t i = 0; i < floats.size(); ++i) REQUIRE(halves[i] == float_to_half(floats[i]));
  std::vector<float> back(halves.size());
  halves_to_floats(halves, back);
  for (std::size_t i = 0; i < halves.size(); ++i) {
    REQUIRE(std::bit_cast<std::uint32_t>(back[i]) == std::bit_cast<std::uint32_t>(half_to_float(halves[i])));
  }

  std::vector<std::uint16_t> short_out(999);
  std::vector<float> short_floats(999);
  CHECK_THROWS_AS(floats_to_halves(floats, short_out), InvalidArgument);
  CHECK_THROWS_AS(halves_to_floats(halves, short_floats), InvalidArgument);
  floats_to_halves({}, {});
  halves_to_floats({}, {});
}

#ifdef QUIVER_TEST_F16C
__attribute__((target("f16c"))) std::uint16_t hardware_to_half(float x) {
  return static_cast<std::uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float hardware_to_float(std::uint16_t h) { return _cvtsh_ss(h); }

TEST_CASE("conversions agree bit for bit with the F16C instructions") {
  __builtin_cpu_init();
#if defined(__clang__)
  const bool f16c = __builtin_cpu_supports("avx2");  // clang's builtin knows no "f16c"; AVX2 implies it
#else
  const bool f16c = __builtin_cpu_supports("f16c");
#endif
  if (!f16c) {
    MESSAGE("CPU without F16C: hardware comparison skipped");
    return;
  }
  for (std::uint32_t i = 0; i <= 0xffff; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    INFO("half=", i);
    REQUIRE(std::bit_cast<std::uint32_t>(half_to_float(h)) == std::bit_cast<std::uint32_t>(hardware_to_float(h)));
  }
  // Random bit patterns cover NaNs and all exponents; the dense band covers every
  // rounding case of the half range.
  std::mt19937 rng(9);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  std::uniform_int_distribution<std::uint32_t> half_band(0x33000000u - 0x100000u, 0x47800000u + 0x100000u);
  for (int n = 0; n < 2'000'000; ++n) {
    std::uint32_t b = (n % 2 == 0) ? any_bits(rng) : half_band(rng);
    if (n % 4 == 3) b |= 0x80000000u;
    const float x = std::bit_cast<float>(b);
    INFO("float bits=", b);
    REQUIRE(float_to_half(x) == hardware_to_half(x));
  }
}
#endif

}  // namespace
}  // namespace quiver::quant
