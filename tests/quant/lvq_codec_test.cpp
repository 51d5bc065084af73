// LVQ codec: reconstruction error within half a step for one and two levels, every
// kernel variant against double-precision distances to the decoded vectors, batch
// encoding, save/load round trips and rejection of bad input and bad files.
#include "quant/lvq_codec.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "quant/distance.h"
#include "quant/lvq_kernels.h"
#include "quiver/error.h"

namespace quiver::quant {
namespace {

using Kind = LvqCodec::Kind;
using Bytes = std::vector<std::byte>;

constexpr double kUnit = 0x1p-24;  // float unit roundoff

// Sizes named by the brief plus every position of a 32-dimension block and its edges.
const std::vector<std::size_t> kDims = {1,  2,  7,  8,  9,  15,  16,  17,  31,  32,  33,
                                        48, 63, 64, 65, 96, 100, 127, 128, 129, 784, 1000};
const std::vector<LvqConfig> kConfigs = {{8, 0}, {4, 0}, {8, 4}, {8, 8}, {4, 4}, {4, 8}};

std::string name(LvqConfig c) {
  return "LVQ-" + std::to_string(c.bits) + "x" + std::to_string(c.residual_bits);
}

// Rows with a per-dimension offset and scale, so the mean matters and components differ
// in range.
std::vector<float> random_rows(std::mt19937& rng, std::size_t count, std::size_t dim) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
  std::vector<float> offset(dim), scale(dim);
  for (std::size_t j = 0; j < dim; ++j) {
    offset[j] = uniform(rng);
    scale[j] = std::exp(uniform(rng) / 2.0f);
  }
  std::vector<float> rows(count * dim);
  for (std::size_t i = 0; i < count; ++i) {
    for (std::size_t j = 0; j < dim; ++j) rows[i * dim + j] = offset[j] + scale[j] * normal(rng);
  }
  return rows;
}

// One vector's codes, each level in its own exact-size allocation so AddressSanitizer
// reports any read past primary_bytes() or residual_bytes().
struct Code {
  Bytes primary;
  Bytes residual;
  const std::byte* residual_or_null() const { return residual.empty() ? nullptr : residual.data(); }
};

Code encode(const LvqCodec& codec, std::span<const float> x) {
  Code code{Bytes(codec.primary_bytes()), Bytes(codec.residual_bytes())};
  codec.encode(x, code.primary.data(), code.residual.empty() ? nullptr : code.residual.data());
  return code;
}

std::vector<float> decode(const LvqCodec& codec, const Code& code, bool both_levels) {
  std::vector<float> out(codec.dim());
  codec.decode(code.primary.data(), both_levels ? code.residual_or_null() : nullptr, out);
  return out;
}

LvqAffine affine(const LvqCodec& codec, const Code& code) {
  return lvq_read_affine(code.primary.data(), lvq_packed_bytes(codec.dim(), codec.config().bits));
}

// The largest error the decode of `code` may have against the float vector: half a step
// of the finest level used, plus float rounding of the decode.
double error_bound(const LvqCodec& codec, const Code& code, bool both_levels, double magnitude) {
  const LvqAffine a = affine(codec, code);
  const unsigned residual = both_levels ? codec.config().residual_bits : 0;
  const double step = residual == 0 ? a.step : a.step / ((1u << residual) - 1u);
  return step / 2.0 + 8.0 * kUnit * magnitude;
}

// Distances are checked against the double-precision distance to the decoded vectors,
// within a bound derived from the float operations the kernels perform: each component
// of a difference may be off by a few roundings of the magnitudes involved, and the sum
// by (dim + a few) roundings of the sum of the terms' magnitudes.
struct Reference {
  double value = 0.0;
  double bound = 0.0;
};

Reference reference_l2(std::span<const float> a, std::span<const float> b, std::span<const float> scale) {
  Reference r;
  double magnitude = 0.0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    const double d = static_cast<double>(a[j]) - b[j];
    const double e = 4.0 * kUnit * scale[j];
    r.value += d * d;
    r.bound += 2.0 * std::abs(d) * e + e * e;
    magnitude += d * d;
  }
  r.bound += static_cast<double>(a.size() + 4) * kUnit * magnitude + 1e-30;
  return r;
}

// `weight_a` and `weight_b` bound the magnitudes that each factor is computed from.
Reference reference_dot(std::span<const float> a, std::span<const float> b, std::span<const float> weight_a,
                        std::span<const float> weight_b) {
  Reference r;
  double magnitude = 0.0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    r.value += static_cast<double>(a[j]) * b[j];
    magnitude += static_cast<double>(weight_a[j]) * weight_b[j];
  }
  r.bound = 2.0 * static_cast<double>(a.size() + 8) * kUnit * magnitude + 1e-30;
  return r;
}

bool within(float got, const Reference& r) { return std::abs(static_cast<double>(got) - r.value) <= r.bound; }

// Magnitudes each decoded component is built from: the reconstruction, the mean and the
// affine constants (both levels use at most |bias| + step).
std::vector<float> magnitudes(const LvqCodec& codec, const Code& code, std::span<const float> decoded) {
  const LvqAffine a = affine(codec, code);
  std::vector<float> m(decoded.size());
  for (std::size_t j = 0; j < decoded.size(); ++j) {
    const float mu = std::abs(codec.mean()[j]);
    m[j] = std::abs(decoded[j]) + 2.0f * mu + 2.0f * (std::abs(a.bias) + a.step * 256.0f);
  }
  return m;
}

std::vector<std::string> isas() {
  std::vector<std::string> names;
  for (const DistanceKernels* k : supported_kernels()) names.emplace_back(k->isa);
  return names;
}

TEST_CASE("reconstruction error is at most half a step of the finest level") {
  std::mt19937 rng(7101);
  for (LvqConfig config : kConfigs) {
    for (std::size_t dim : kDims) {
      const std::vector<float> rows = random_rows(rng, 12, dim);
      const LvqCodec codec = LvqCodec::train(rows.data(), 12, dim, config);
      INFO(name(config), " dim=", dim);
      CHECK(codec.primary_bytes() % 16 == 0);
      CHECK(codec.residual_bytes() % 16 == 0);
      CHECK(codec.primary_bytes() >= lvq_packed_bytes(dim, config.bits) + 4);
      for (std::size_t i = 0; i < 12; ++i) {
        const std::span<const float> x(rows.data() + i * dim, dim);
        const Code code = encode(codec, x);
        const LvqAffine a = affine(codec, code);
        CHECK(a.step > 0.0f);
        // The step is no coarser than the range needs: (max - min) / (2^B - 1), rounded up
        // to float16, and widened at most by rounding the bias down to float16.
        float low = std::numeric_limits<float>::infinity(), high = -low;
        for (std::size_t j = 0; j < dim; ++j) {
          low = std::min(low, x[j] - codec.mean()[j]);
          high = std::max(high, x[j] - codec.mean()[j]);
        }
        const double top = (1u << config.bits) - 1u;
        CHECK(a.bias <= low);
        CHECK(a.step <= ((high - low) + std::abs(low) * 0x1p-10 + 1e-7) / top * (1.0 + 0x1p-10) + 1e-7);
        for (bool both : {false, true}) {
          if (both && config.residual_bits == 0) continue;
          const std::vector<float> y = decode(codec, code, both);
          double worst = 0.0;
          for (std::size_t j = 0; j < dim; ++j) {
            const double magnitude =
                std::abs(x[j]) + std::abs(codec.mean()[j]) + std::abs(a.bias) + a.step * top;
            worst = std::max(worst, std::abs(static_cast<double>(x[j]) - y[j]) /
                                        error_bound(codec, code, both, magnitude));
          }
          INFO("both levels=", both);
          CHECK(worst <= 1.0);
        }
      }
    }
  }
}

TEST_CASE("every kernel variant gives the distance to the decoded vector") {
  std::mt19937 rng(7102);
  for (const std::string& isa : isas()) {
    for (LvqConfig config : kConfigs) {
      for (std::size_t dim : kDims) {
        const std::size_t count = 6;
        const std::vector<float> rows = random_rows(rng, count + 3, dim);
        const LvqCodec codec = LvqCodec::train(rows.data(), count, dim, config).with_isa(isa);
        INFO(isa, " ", name(config), " dim=", dim);
        CHECK(codec.isa() == std::string(lvq_kernels_for_isa(isa).isa));

        std::vector<Code> codes;
        for (std::size_t i = 0; i < count; ++i) codes.push_back(encode(codec, {rows.data() + i * dim, dim}));
        // Queries: unseen rows, and a stored row itself (distance near zero).
        std::vector<std::span<const float>> queries;
        for (std::size_t i = count; i < count + 3; ++i) queries.emplace_back(rows.data() + i * dim, dim);
        queries.emplace_back(rows.data(), dim);

        for (std::span<const float> query : queries) {
          const LvqCodec::Query l2 = codec.prepare(query, Kind::L2);
          const LvqCodec::Query ip = codec.prepare(query, Kind::InnerProduct);
          for (const Code& code : codes) {
            for (bool both : {false, true}) {
              const std::vector<float> y = decode(codec, code, both);
              const std::vector<float> m = magnitudes(codec, code, y);
              std::vector<float> scale(dim), query_abs(dim);
              for (std::size_t j = 0; j < dim; ++j) {
                query_abs[j] = std::abs(query[j]);
                scale[j] = m[j] + query_abs[j];
              }
              const float got_l2 = both ? codec.distance(l2, code.primary.data(), code.residual_or_null())
                                        : codec.distance(l2, code.primary.data());
              const float got_ip = both ? codec.distance(ip, code.primary.data(), code.residual_or_null())
                                        : codec.distance(ip, code.primary.data());
              INFO("both levels=", both);
              CHECK(within(got_l2, reference_l2(query, y, scale)));
              CHECK(within(got_ip, reference_dot(query, y, query_abs, m)));
            }
            CHECK(codec.distance_fn(Kind::L2)(l2, code.primary.data(), dim) ==
                  codec.distance(l2, code.primary.data()));
            CHECK(codec.distance_fn(Kind::InnerProduct)(ip, code.primary.data(), dim) ==
                  codec.distance(ip, code.primary.data()));
          }
        }

        for (std::size_t i = 0; i + 1 < count; ++i) {
          const Code& a = codes[i];
          const Code& b = codes[i + 1];
          const std::vector<float> ya = decode(codec, a, false);
          const std::vector<float> yb = decode(codec, b, false);
          const std::vector<float> ma = magnitudes(codec, a, ya);
          const std::vector<float> mb = magnitudes(codec, b, yb);
          std::vector<float> scale(dim);
          for (std::size_t j = 0; j < dim; ++j) scale[j] = ma[j] + mb[j];
          CHECK(within(codec.symmetric(Kind::L2, a.primary.data(), b.primary.data()),
                       reference_l2(ya, yb, scale)));
          CHECK(within(codec.symmetric(Kind::InnerProduct, a.primary.data(), b.primary.data()),
                       reference_dot(ya, yb, ma, mb)));
        }
      }
    }
  }
}

TEST_CASE("without a second level, the two-level distance is the first-level one") {
  std::mt19937 rng(7103);
  const std::vector<float> rows = random_rows(rng, 2, 100);
  for (unsigned bits : {4u, 8u}) {
    const LvqCodec codec = LvqCodec::train(rows.data(), 2, 100, {bits, 0});
    CHECK(codec.residual_bytes() == 0);
    const Code code = encode(codec, {rows.data(), 100});
    for (Kind kind : {Kind::L2, Kind::InnerProduct}) {
      const LvqCodec::Query q = codec.prepare({rows.data() + 100, 100}, kind);
      CHECK(codec.distance(q, code.primary.data(), nullptr) == codec.distance(q, code.primary.data()));
    }
  }
}

TEST_CASE("constant, zero and out-of-float16-range vectors are coded within half a step") {
  for (LvqConfig config : kConfigs) {
    for (std::size_t dim : {1, 17, 128}) {
      for (float mean_value : {0.0f, 1.5f}) {
        const LvqCodec codec(dim, config, std::vector<float>(dim, mean_value));
        for (float value : {0.0f, 1.5f, 3.7f, -2.25e-3f, 1e4f, -6.5e4f, 1e5f}) {
          INFO(name(config), " dim=", dim, " mean=", mean_value, " value=", value);
          const std::vector<float> x(dim, value);
          const Code code = encode(codec, x);
          for (bool both : {false, true}) {
            const std::vector<float> y = decode(codec, code, both && config.residual_bits != 0);
            const double bound =
                error_bound(codec, code, both && config.residual_bits != 0, 2.0 * std::abs(value) + 4.0);
            for (std::size_t j = 0; j < dim; ++j) CHECK(std::abs(static_cast<double>(y[j]) - value) <= bound);
          }
          if (value == mean_value) {
            // Exactly the mean: zero step range, step 1, every code 0, exact decode.
            CHECK(affine(codec, code).step == 1.0f);
            CHECK(decode(codec, code, false) == x);
            const LvqCodec::Query q = codec.prepare(x, Kind::L2);
            CHECK(codec.distance(q, code.primary.data()) == 0.0f);
            CHECK(codec.symmetric(Kind::L2, code.primary.data(), code.primary.data()) == 0.0f);
          }
        }
      }
    }
  }
}

TEST_CASE("encode rejects non-finite components and ranges float16 constants cannot hold") {
  const LvqCodec codec(3, {8, 4}, {0.0f, 0.0f, 0.0f});
  Bytes primary(codec.primary_bytes()), residual(codec.residual_bytes());
  const float inf = std::numeric_limits<float>::infinity();
  for (const std::vector<float>& bad :
       std::vector<std::vector<float>>{{0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f},
                                       {inf, 0.0f, 0.0f},
                                       {-7e4f, 0.0f, 0.0f},   // bias below -65504
                                       {-6e4f, 0.0f, 3e38f},  // step above 65504
                                       {1.0f, 2.0f}}) {       // wrong size
    CHECK_THROWS_AS(codec.encode(bad, primary.data(), residual.data()), InvalidArgument);
  }
  const LvqCodec single(3, {8, 0}, {0.0f, 0.0f, 0.0f});
  CHECK_THROWS_AS(single.encode(std::vector<float>{1, 2, 3}, primary.data(), residual.data()),
                  InvalidArgument);
  std::vector<float> out(3);
  CHECK_THROWS_AS(single.decode(primary.data(), residual.data(), out), InvalidArgument);
  std::vector<float> short_out(2);
  CHECK_THROWS_AS(codec.decode(primary.data(), nullptr, short_out), InvalidArgument);
  CHECK_THROWS_AS(codec.prepare(std::vector<float>{1, 2}, Kind::L2), InvalidArgument);
}

TEST_CASE("encode_batch equals encode row by row, for any thread count") {
  std::mt19937 rng(7104);
  for (LvqConfig config : {LvqConfig{8, 0}, LvqConfig{4, 8}}) {
    const std::size_t dim = 33;
    const std::size_t count = 1100;  // enough rows for several threads
    const std::vector<float> rows = random_rows(rng, count, dim);
    const LvqCodec codec = LvqCodec::train(rows.data(), count, dim, config);
    Bytes expected_primary(count * codec.primary_bytes()), expected_residual(count * codec.residual_bytes());
    for (std::size_t i = 0; i < count; ++i) {
      codec.encode(
          {rows.data() + i * dim, dim}, expected_primary.data() + i * codec.primary_bytes(),
          config.residual_bits == 0 ? nullptr : expected_residual.data() + i * codec.residual_bytes());
    }
    for (std::size_t threads : {0, 1, 3, 64}) {
      INFO(name(config), " threads=", threads);
      Bytes primary(expected_primary.size()), residual(expected_residual.size());
      codec.encode_batch(rows.data(), count, primary.data(),
                         config.residual_bits == 0 ? nullptr : residual.data(), threads);
      CHECK(primary == expected_primary);
      CHECK(residual == expected_residual);
    }
  }
}

TEST_CASE("encode_batch reports a bad row from any thread") {
  const std::size_t dim = 4, count = 2000;
  std::vector<float> rows(count * dim, 1.0f);
  rows[1700 * dim + 2] = std::numeric_limits<float>::quiet_NaN();
  const LvqCodec codec(dim, {8, 0}, std::vector<float>(dim, 0.0f));
  Bytes primary(count * codec.primary_bytes());
  CHECK_THROWS_AS(codec.encode_batch(rows.data(), count, primary.data(), nullptr, 4), InvalidArgument);
}

TEST_CASE("train computes the mean in double") {
  // Large offsets with small variation: a float running sum would lose the variation.
  const std::size_t dim = 3, count = 100000;
  std::vector<float> rows(count * dim);
  for (std::size_t i = 0; i < count; ++i) {
    rows[i * dim] = 1e4f + (i % 2 == 0 ? 0.5f : -0.25f);
    rows[i * dim + 1] = -3.0f;
    rows[i * dim + 2] = static_cast<float>(i % 10);
  }
  const LvqCodec codec = LvqCodec::train(rows.data(), count, dim, {8, 0});
  CHECK(codec.mean()[0] == doctest::Approx(1e4 + 0.125).epsilon(1e-9));
  CHECK(codec.mean()[1] == -3.0f);
  CHECK(codec.mean()[2] == 4.5f);
  CHECK_THROWS_AS(LvqCodec::train(rows.data(), 0, dim, {8, 0}), InvalidArgument);
}

TEST_CASE("the constructor rejects bad shapes, widths and means") {
  const std::vector<float> mean(4, 0.0f);
  for (unsigned bits : {0u, 1u, 2u, 3u, 5u, 7u, 16u})
    CHECK_THROWS_AS(LvqCodec(4, {bits, 0}, mean), InvalidArgument);
  for (unsigned bits : {1u, 2u, 3u, 6u, 12u, 16u})
    CHECK_THROWS_AS(LvqCodec(4, {8, bits}, mean), InvalidArgument);
  CHECK_THROWS_AS(LvqCodec(4, {8, 0}, std::vector<float>(3)), InvalidArgument);
  CHECK_THROWS_AS(LvqCodec(0, {8, 0}, {}), InvalidArgument);
  CHECK_THROWS_AS(LvqCodec(LvqCodec::kMaxDim + 1, {8, 0}, std::vector<float>(LvqCodec::kMaxDim + 1)),
                  InvalidArgument);
  CHECK_THROWS_AS(LvqCodec(2, {8, 0}, {0.0f, std::numeric_limits<float>::infinity()}), InvalidArgument);
  CHECK_NOTHROW(LvqCodec(LvqCodec::kMaxDim, {4, 4}, std::vector<float>(LvqCodec::kMaxDim)));
}

TEST_CASE("with_isa picks each runnable variant and rejects the rest") {
  const LvqCodec codec(8, {8, 0}, std::vector<float>(8, 0.0f));
  CHECK(std::string(codec.isa()) == lvq_kernels_for_isa(kernels().isa).isa);
  for (const std::string& isa : isas()) {
    const std::string got = codec.with_isa(isa).isa();
    // Instruction sets without an LVQ variant of their own run the scalar one.
    CHECK((got == isa || got == "scalar"));
  }
  CHECK(std::string(codec.with_isa("scalar").isa()) == "scalar");
  CHECK_THROWS_AS(codec.with_isa("bogus"), InvalidArgument);
}

std::string saved(const LvqCodec& codec) {
  std::ostringstream out;
  codec.save(out);
  return out.str();
}

LvqCodec loaded(const std::string& bytes) {
  std::istringstream in(bytes);
  return LvqCodec::load(in, "codec.lvq");
}

TEST_CASE("save and load round-trip the codec: identical codes and distances") {
  std::mt19937 rng(7105);
  for (LvqConfig config : kConfigs) {
    const std::size_t dim = 65;
    const std::vector<float> rows = random_rows(rng, 4, dim);
    const LvqCodec codec = LvqCodec::train(rows.data(), 3, dim, config);
    const LvqCodec copy = loaded(saved(codec));
    CHECK(copy.dim() == dim);
    CHECK(copy.config().bits == config.bits);
    CHECK(copy.config().residual_bits == config.residual_bits);
    CHECK(std::equal(copy.mean().begin(), copy.mean().end(), codec.mean().begin(), codec.mean().end()));
    CHECK(saved(copy) == saved(codec));
    const std::span<const float> x(rows.data(), dim), query(rows.data() + 3 * dim, dim);
    const Code a = encode(codec, x);
    const Code b = encode(copy, x);
    CHECK(a.primary == b.primary);
    CHECK(a.residual == b.residual);
    for (Kind kind : {Kind::L2, Kind::InnerProduct}) {
      CHECK(codec.distance(codec.prepare(query, kind), a.primary.data(), a.residual_or_null()) ==
            copy.distance(copy.prepare(query, kind), b.primary.data(), b.residual_or_null()));
    }
  }
}

TEST_CASE("load rejects every truncation and every corrupted byte") {
  std::mt19937 rng(7106);
  const std::vector<float> rows = random_rows(rng, 2, 5);
  const std::string bytes = saved(LvqCodec::train(rows.data(), 2, 5, {4, 8}));
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    INFO("truncated to ", size);
    CHECK_THROWS_AS(loaded(bytes.substr(0, size)), CorruptFile);
  }
  constexpr std::size_t kVersionOffset = 8;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    INFO("byte ", i, " corrupted");
    if (i >= kVersionOffset && i < kVersionOffset + 4) {
      CHECK_THROWS_AS(loaded(bad), IncompatibleVersion);  // reads as a newer format
    } else {
      CHECK_THROWS_AS(loaded(bad), CorruptFile);
    }
  }
  try {
    std::istringstream in(bytes.substr(0, 3));
    LvqCodec::load(in, "some/file.lvq");
    FAIL("no exception");
  } catch (const CorruptFile& e) {
    CHECK(std::string(e.what()).find("some/file.lvq") != std::string::npos);
  }
}

// A header with the given fields and no payload: a loader that trusted dim would try to
// allocate or read it.
std::string header(std::uint32_t version, std::uint32_t dim, std::uint32_t bits,
                   std::uint32_t residual_bits) {
  std::string out = saved(LvqCodec(1, {8, 0}, {0.0f})).substr(0, 8);
  for (std::uint32_t field : {version, dim, bits, residual_bits}) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(field >> (8 * i)));
  }
  return out;
}

TEST_CASE("load rejects bad header fields before reading or allocating the payload") {
  for (std::uint32_t dim : {0u, 65537u, 0xffffffffu}) {
    try {
      loaded(header(1, dim, 8, 0));
      FAIL("no exception");
    } catch (const CorruptFile& e) {
      CHECK(std::string(e.what()).find("dimension " + std::to_string(dim)) != std::string::npos);
    }
  }
  CHECK_THROWS_AS(loaded(header(1, 4, 6, 0)), CorruptFile);
  CHECK_THROWS_AS(loaded(header(1, 4, 8, 2)), CorruptFile);
  CHECK_THROWS_AS(loaded(header(0, 4, 8, 0)), CorruptFile);
  CHECK_THROWS_AS(loaded(header(2, 4, 8, 0)), IncompatibleVersion);
  CHECK_THROWS_AS(loaded(header(1, 4, 8, 0)), CorruptFile);  // valid header, no payload
}

}  // namespace
}  // namespace quiver::quant
