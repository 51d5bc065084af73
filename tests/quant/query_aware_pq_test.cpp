// Product quantization, plain and query-aware: k-means, the 4-bit code layout, the score
// identities of the lookup tables (float and fast-scan, every kernel variant), the error
// reduction of query-aware codebooks on seeded out-of-distribution data, flat search with
// re-ranking, save/load and rejection of bad input.
#include "quant/query_aware_pq.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "quant/distance.h"
#include "quant/kmeans.h"
#include "quant/pq_codes.h"
#include "quant/pq_fast_scan.h"
#include "quant/pq_flat_search.h"
#include "quant/stored_bytes.h"
#include "quant/exact_top_k.h"
#include "quiver/error.h"
#include "support/ood_synthetic.h"

namespace quiver::quant {
namespace {

double dot(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += double{a[i]} * b[i];
  return sum;
}

double norm(std::span<const float> a) { return std::sqrt(dot(a, a)); }

Matrix gaussian(std::size_t rows, std::size_t dim, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix m(rows, dim);
  for (float& v : m.values) v = normal(rng);
  return m;
}

// Without the balancing rotation, which trains the codebooks twice, and with separate
// codebooks, whose training is seconds where overlapping ones take minutes under the
// sanitizers; the tests that are about either turn it on.
QueryAwarePqOptions options_for(std::size_t sub_spaces, unsigned bits, bool balanced = false) {
  QueryAwarePqOptions options;
  options.sub_spaces = sub_spaces;
  options.bits = bits;
  options.iterations = 10;
  options.threads = 2;
  options.balance_sub_spaces = balanced;
  options.overlapping = false;
  return options;
}

// Mean over the queries and their exact top-`top` keys of (<q, x> - estimate)^2: the score
// error where attention weight lives.
double top_score_error(const QueryAwarePq& pq, const PqCodes& codes, MatrixView keys, MatrixView queries,
                       std::size_t top) {
  std::vector<float> lut(pq.lookup_table_size());
  std::vector<std::pair<double, std::size_t>> exact(keys.rows);
  double total = 0;
  for (std::size_t q = 0; q < queries.rows; ++q) {
    pq.lookup_table(queries.row(q), lut);
    for (std::size_t i = 0; i < keys.rows; ++i) exact[i] = {dot(queries.row(q), keys.row(i)), i};
    std::partial_sort(exact.begin(), exact.begin() + static_cast<std::ptrdiff_t>(top), exact.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t j = 0; j < top; ++j) {
      const double error = exact[j].first - pq.estimate(lut, codes, exact[j].second);
      total += error * error;
    }
  }
  return total / static_cast<double>(queries.rows * top);
}

double recall_at(const std::vector<std::vector<Hit>>& found, MatrixView keys, MatrixView queries, std::size_t k) {
  std::size_t hits = 0;
  std::vector<std::pair<double, std::size_t>> exact(keys.rows);
  for (std::size_t q = 0; q < queries.rows; ++q) {
    for (std::size_t i = 0; i < keys.rows; ++i) exact[i] = {dot(queries.row(q), keys.row(i)), i};
    std::partial_sort(exact.begin(), exact.begin() + static_cast<std::ptrdiff_t>(k), exact.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const Hit& hit : found[q]) {
      hits += std::any_of(exact.begin(), exact.begin() + static_cast<std::ptrdiff_t>(k),
                          [&](const auto& e) { return e.second == hit.id; });
    }
  }
  return static_cast<double>(hits) / static_cast<double>(queries.rows * k);
}

TEST_CASE("kmeans finds well-separated clusters and assign_nearest agrees with brute force") {
  const std::size_t dim = 6;
  const std::size_t per = 300;
  Matrix points(4 * per, dim);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (std::size_t c = 0; c < 4; ++c) {
    for (std::size_t i = 0; i < per; ++i) {
      for (std::size_t j = 0; j < dim; ++j) points.row(c * per + i)[j] = (j == c ? 10.0f : 0.0f) + normal(rng);
    }
  }
  KMeansOptions options;
  options.threads = 2;
  const std::vector<float> centroids = kmeans({points.values.data(), points.rows, dim, dim}, 4, options);
  // Every true centre has a centroid within the noise.
  for (std::size_t c = 0; c < 4; ++c) {
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < 4; ++k) {
      double d2 = 0;
      for (std::size_t j = 0; j < dim; ++j) {
        const double diff = centroids[k * dim + j] - (j == c ? 10.0 : 0.0);
        d2 += diff * diff;
      }
      best = std::min(best, d2);
    }
    CHECK(best < 0.01);
  }
  std::vector<std::uint8_t> labels(points.rows);
  assign_nearest({points.values.data(), points.rows, dim, dim}, centroids.data(), 4, labels.data(), 1, 2);
  for (std::size_t i = 0; i < points.rows; i += 37) {
    std::size_t brute = 0;
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < 4; ++k) {
      double d2 = 0;
      for (std::size_t j = 0; j < dim; ++j) d2 += std::pow(points.row(i)[j] - centroids[k * dim + j], 2);
      if (d2 < best) best = d2, brute = k;
    }
    CHECK(labels[i] == brute);
  }
  CHECK_THROWS_AS(kmeans({points.values.data(), 3, dim, dim}, 4, options), InvalidArgument);
}

TEST_CASE("weighted kmeans places a lone centroid at the weighted mean and rejects bad weights") {
  const std::vector<float> points = {0.0f, 1.0f, 2.0f, 10.0f};
  const StridedRows rows{points.data(), 4, 1, 1};
  KMeansOptions options;
  options.threads = 1;
  CHECK(kmeans(rows, 1, options)[0] == doctest::Approx(3.25));
  const std::vector<float> weights = {1.0f, 1.0f, 1.0f, 7.0f};
  CHECK(kmeans(rows, 1, options, weights)[0] == doctest::Approx((0.0 + 1.0 + 2.0 + 70.0) / 10.0));
  // Weight zero drops a row; with two centroids the weighted outlier gets its own.
  const std::vector<float> two = kmeans(rows, 2, options, std::vector<float>{1.0f, 1.0f, 1.0f, 0.0f});
  CHECK(std::max(two[0], two[1]) <= 2.0f);
  CHECK_THROWS_AS(kmeans(rows, 1, options, std::vector<float>{1.0f, 1.0f}), InvalidArgument);
  CHECK_THROWS_AS(kmeans(rows, 1, options, std::vector<float>{1.0f, -1.0f, 1.0f, 1.0f}), InvalidArgument);
  CHECK_THROWS_AS(kmeans(rows, 1, options, std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f}), InvalidArgument);
  CHECK_THROWS_AS(kmeans(rows, 1, options, std::vector<float>{1.0f, NAN, 1.0f, 1.0f}), InvalidArgument);
}

TEST_CASE("exact_top_k finds each chosen query's top k inner products") {
  // More keys than one data block, so the per-block heaps are merged.
  const Matrix keys = gaussian(9000, 12, 21);
  const Matrix queries = gaussian(70, 12, 22);
  std::vector<std::size_t> chosen;
  for (std::size_t q = 0; q < queries.rows; q += 2) chosen.push_back(q);
  const std::size_t k = 7;
  const std::vector<std::uint32_t> lists = exact_top_k(keys, queries, chosen, k, 2);
  REQUIRE(lists.size() == chosen.size() * k);
  std::vector<std::pair<double, std::size_t>> scored(keys.rows);
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    for (std::size_t j = 0; j < keys.rows; ++j) scored[j] = {dot(queries.row(chosen[i]), keys.row(j)), j};
    std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::uint32_t> expected;
    for (std::size_t j = 0; j < k; ++j) expected.push_back(static_cast<std::uint32_t>(scored[j].second));
    std::vector<std::uint32_t> found(lists.begin() + static_cast<std::ptrdiff_t>(i * k),
                                     lists.begin() + static_cast<std::ptrdiff_t>((i + 1) * k));
    std::sort(expected.begin(), expected.end());
    std::sort(found.begin(), found.end());
    CHECK(found == expected);
  }
  // k beyond the data: every row, once.
  const std::vector<std::uint32_t> all = exact_top_k(keys.view().slice(0, 5), queries, chosen, 9, 1);
  CHECK(all.size() == chosen.size() * 5);
  CHECK_THROWS_AS(exact_top_k(keys, gaussian(3, 11, 1), std::vector<std::size_t>{0}, k, 1), InvalidArgument);
  CHECK_THROWS_AS(exact_top_k(keys, queries, std::vector<std::size_t>{70}, k, 1), InvalidArgument);
  CHECK_THROWS_AS(exact_top_k(keys, queries, chosen, 0, 1), InvalidArgument);
}

TEST_CASE("4-bit codes round-trip through the fast-scan layout, with padding") {
  // 45 vectors (a partial last block) and 7 sub-spaces (an odd count).
  const std::size_t n = 45;
  const std::size_t m = 7;
  std::vector<std::uint8_t> labels(n * m);
  std::mt19937_64 rng(3);
  for (auto& l : labels) l = static_cast<std::uint8_t>(rng() % 16);
  const PqCodes codes(labels, m, 4);
  REQUIRE(codes.size() == n);
  CHECK(codes.blocks() == 2);
  CHECK(codes.pairs() == 4);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t s = 0; s < m; ++s) CHECK(codes.get(i, s) == labels[i * m + s]);
  }
  labels[5] = 16;
  CHECK_THROWS_AS(PqCodes(labels, m, 4), InvalidArgument);
  CHECK_THROWS_AS(PqCodes(labels, m, 5), InvalidArgument);
}

TEST_CASE("8-bit lookup-table scores equal the inner product with the decoded vector") {
  const testing::OodSet set = testing::ood_synthetic(2000, 1000, 20, 32, 77);
  for (const bool aware : {false, true}) {
    CAPTURE(aware);
    const QueryAwarePq pq =
        QueryAwarePq::train(set.keys, aware ? set.train_queries.view() : MatrixView{}, options_for(8, 8));
    CHECK(pq.query_aware() == aware);
    const PqCodes codes = pq.encode(set.keys, 2);
    std::vector<float> lut(pq.lookup_table_size());
    std::vector<float> decoded(pq.dim());
    for (std::size_t q = 0; q < set.eval_queries.rows; ++q) {
      pq.lookup_table(set.eval_queries.row(q), lut);
      for (std::size_t i = 0; i < codes.size(); i += 53) {
        pq.decode(codes, i, decoded);
        const double exact = dot(set.eval_queries.row(q), decoded);
        // float rounding of the lookup, the maps and the 8 partial sums
        const double tolerance = 1e-4 * norm(set.eval_queries.row(q)) * norm(decoded) + 1e-5;
        CHECK(std::abs(pq.estimate(lut, codes, i) - exact) <= tolerance);
      }
    }
  }
}

TEST_CASE("4-bit fast scan: every kernel variant equals the scalar one, and both the float table within its bound") {
  const testing::OodSet set = testing::ood_synthetic(1000, 500, 8, 48, 91);
  // 12 sub-spaces is 6 pairs; 3 sub-spaces exercises the zero pad row.
  for (const std::size_t sub_spaces : {std::size_t{12}, std::size_t{3}}) {
    CAPTURE(sub_spaces);
    const QueryAwarePq pq = QueryAwarePq::train(set.keys, set.train_queries, options_for(sub_spaces, 4));
    const PqCodes codes = pq.encode(set.keys.view().slice(0, 999), 2);  // a partial last block
    const PqFastScanKernels& reference = pq_fast_scan_kernels_for_isa("scalar");
    std::vector<float> lut(pq.lookup_table_size());
    std::vector<std::uint32_t> expected(codes.blocks() * kFastScanBlock);
    std::vector<std::uint32_t> got(expected.size());
    for (std::size_t q = 0; q < set.eval_queries.rows; ++q) {
      pq.lookup_table(set.eval_queries.row(q), lut);
      const PqFastScanLut quantized = quantize_lut(lut, pq.sub_spaces());
      reference.scan(codes.block(0), codes.blocks(), codes.pairs(), quantized.table.data(), expected.data());
      for (const DistanceKernels* variant : supported_kernels()) {
        CAPTURE(variant->isa);
        const PqFastScanKernels& kernels = pq_fast_scan_kernels_for_isa(variant->isa);
        std::fill(got.begin(), got.end(), 0xdeadbeefu);
        kernels.scan(codes.block(0), codes.blocks(), codes.pairs(), quantized.table.data(), got.data());
        CHECK(std::equal(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(codes.size()), expected.begin()));
      }
      for (std::size_t i = 0; i < codes.size(); ++i) {
        const double scalar = pq.estimate(lut, codes, i);
        const double bound = quantized.max_error() * (1 + 1e-5) + 1e-5 * (std::abs(scalar) + 1);
        CHECK(std::abs(quantized.score(expected[i]) - scalar) <= bound);
      }
    }
  }
}

TEST_CASE("row fast scan: codes anywhere in memory, any count and width, the same sums in every variant") {
  std::mt19937_64 rng(31);
  for (const std::size_t pairs : {std::size_t{1}, std::size_t{6}, std::size_t{16}, std::size_t{17}, std::size_t{40}}) {
    std::vector<std::uint8_t> table(pairs * kFastScanPairBytes);
    for (auto& entry : table) entry = static_cast<std::uint8_t>(rng());
    // Each row its own allocation of exactly `pairs` bytes: a kernel reading past a row
    // fails under AddressSanitizer.
    std::vector<std::vector<std::uint8_t>> rows(70, std::vector<std::uint8_t>(pairs));
    std::vector<const std::uint8_t*> pointers;
    for (auto& row : rows) {
      for (auto& byte : row) byte = static_cast<std::uint8_t>(rng());
      pointers.push_back(row.data());
    }
    for (const std::size_t count : {std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{17}, std::size_t{32},
                                    std::size_t{33}, std::size_t{70}}) {
      CAPTURE(pairs);
      CAPTURE(count);
      std::vector<std::uint32_t> expected(count, 0);
      for (std::size_t i = 0; i < count; ++i) {
        for (std::size_t p = 0; p < pairs; ++p) {
          const unsigned byte = rows[i][p];
          expected[i] += table[p * kFastScanPairBytes + (byte & 15u)] + table[p * kFastScanPairBytes + 16 + (byte >> 4)];
        }
      }
      for (const DistanceKernels* variant : supported_kernels()) {
        CAPTURE(variant->isa);
        std::vector<std::uint32_t> got(count + 1, 0xdeadbeefu);
        pq_fast_scan_kernels_for_isa(variant->isa).scan_rows(pointers.data(), count, pairs, table.data(), got.data());
        CHECK(std::equal(expected.begin(), expected.end(), got.begin()));
        CHECK(got[count] == 0xdeadbeefu);  // nothing written past the count
      }
    }
  }
}

TEST_CASE("the fast-scan kernels sum exactly with many sub-spaces (16-bit lanes flushed before overflow)") {
  // 600 sub-spaces of all-255 entries: 153000 per vector, beyond 16 bits.
  const std::size_t sub_spaces = 600;
  std::vector<std::uint8_t> labels(64 * sub_spaces);
  std::mt19937_64 rng(8);
  for (auto& l : labels) l = static_cast<std::uint8_t>(rng() % 16);
  const PqCodes codes(labels, sub_spaces, 4);
  PqFastScanLut lut = quantize_lut(std::vector<float>(sub_spaces * 16, 1.0f), sub_spaces);
  std::fill(lut.table.begin(), lut.table.end(), std::uint8_t{255});
  for (const DistanceKernels* variant : supported_kernels()) {
    CAPTURE(variant->isa);
    std::vector<std::uint32_t> sums(codes.blocks() * kFastScanBlock);
    pq_fast_scan_kernels_for_isa(variant->isa).scan(codes.block(0), codes.blocks(), codes.pairs(), lut.table.data(),
                                                     sums.data());
    CHECK(std::all_of(sums.begin(), sums.end(), [](std::uint32_t s) { return s == 255u * 600u; }));
  }
}

TEST_CASE("query-aware codebooks cut the top-score error of plain PQ on out-of-distribution queries" * doctest::test_suite("quality")) {
  const testing::OodSet set = testing::ood_synthetic(6000, 4000, 100, 64, 2024);
  for (const unsigned bits : {8u, 4u}) {
    CAPTURE(bits);
    const QueryAwarePqOptions options = options_for(16, bits);
    const QueryAwarePq plain = QueryAwarePq::train(set.keys, MatrixView{}, options);
    const QueryAwarePq aware = QueryAwarePq::train(set.keys, set.train_queries, options);
    const double plain_error = top_score_error(plain, plain.encode(set.keys, 2), set.keys, set.eval_queries, 100);
    const double aware_error = top_score_error(aware, aware.encode(set.keys, 2), set.keys, set.eval_queries, 100);
    MESSAGE("bits ", bits, ": top-100 score MSE plain ", plain_error, ", query-aware ", aware_error);
    CHECK(aware_error < 0.6 * plain_error);
  }
}

TEST_CASE("score-aware training (retrieval weights, anisotropic codes) cuts the top-score error further" * doctest::test_suite("quality")) {
  const testing::OodSet set = testing::ood_synthetic(6000, 4000, 100, 64, 2024);
  QueryAwarePqOptions unweighted = options_for(16, 8);
  unweighted.weight_neighbours = 0;
  QueryAwarePqOptions weighted = options_for(16, 8);
  weighted.anisotropic = false;
  const QueryAwarePqOptions score_aware = options_for(16, 8);
  const QueryAwarePq a = QueryAwarePq::train(set.keys, set.train_queries, unweighted);
  const QueryAwarePq b = QueryAwarePq::train(set.keys, set.train_queries, weighted);
  const QueryAwarePq c = QueryAwarePq::train(set.keys, set.train_queries, score_aware);
  CHECK(a.anisotropy() == 1.0f);
  CHECK(b.anisotropy() == 1.0f);
  CHECK(c.anisotropy() > 1.0f);
  const double error_a = top_score_error(a, a.encode(set.keys, 2), set.keys, set.eval_queries, 100);
  const double error_b = top_score_error(b, b.encode(set.keys, 2), set.keys, set.eval_queries, 100);
  const double error_c = top_score_error(c, c.encode(set.keys, 2), set.keys, set.eval_queries, 100);
  MESSAGE("top-100 score MSE: query-aware ", error_a, ", + retrieval weights ", error_b, ", + anisotropic codes ",
          error_c, " (eta ", c.anisotropy(), ")");
  CHECK(error_b < error_a);
  CHECK(error_c < error_b);
  // η travels with the codebooks: a loaded quantizer encodes the same codes.
  std::stringstream stream;
  c.save(stream);
  const QueryAwarePq loaded = QueryAwarePq::load(stream, "score-aware.bin");
  CHECK(loaded.anisotropy() == c.anisotropy());
  const PqCodes before = c.encode(set.keys, 2);
  const PqCodes after = loaded.encode(set.keys, 2);
  for (std::size_t i = 0; i < before.size(); ++i) {
    for (std::size_t m = 0; m < 16; ++m) REQUIRE(before.get(i, m) == after.get(i, m));
  }
  // Plain PQ has no queries to learn either from.
  CHECK(QueryAwarePq::train(set.keys, MatrixView{}, score_aware).anisotropy() == 1.0f);
}

TEST_CASE("a balancing rotation spreads concentrated variance over the sub-spaces and cuts the error") {
  // Variance in the first 4 of 16 coordinates: contiguous 2-d sub-spaces give two of the
  // eight sub-spaces all of it; the rotation deals one large direction to each of four.
  Matrix data = gaussian(4000, 16, 31);
  for (std::size_t i = 0; i < data.rows; ++i) {
    for (std::size_t j = 0; j < 4; ++j) data.row(i)[j] *= 20.0f;
  }
  const Matrix queries = gaussian(500, 16, 32);
  for (const bool aware : {false, true}) {
    CAPTURE(aware);
    const QueryAwarePqOptions contiguous = options_for(8, 4);
    const QueryAwarePqOptions balanced = options_for(8, 4, true);
    const MatrixView sample_queries = aware ? queries.view() : MatrixView{};
    const QueryAwarePq a = QueryAwarePq::train(data, sample_queries, contiguous);
    const QueryAwarePq b = QueryAwarePq::train(data, sample_queries, balanced);
    CHECK(b.query_aware() == aware);
    auto reconstruction_error = [&](const QueryAwarePq& pq) {
      const PqCodes codes = pq.encode(data, 2);
      std::vector<float> decoded(pq.dim());
      double total = 0;
      for (std::size_t i = 0; i < data.rows; ++i) {
        pq.decode(codes, i, decoded);
        for (std::size_t j = 0; j < pq.dim(); ++j) total += std::pow(double{decoded[j]} - data.row(i)[j], 2);
      }
      return total / static_cast<double>(data.rows);
    };
    const double error_contiguous = reconstruction_error(a);
    const double error_balanced = reconstruction_error(b);
    MESSAGE("squared reconstruction error: contiguous ", error_contiguous, ", balanced ", error_balanced);
    CHECK(error_balanced < 0.7 * error_contiguous);
    // The rotation is saved with the codebooks: a loaded quantizer scores the same.
    std::stringstream stream;
    b.save(stream);
    const QueryAwarePq loaded = QueryAwarePq::load(stream, "balanced.bin");
    CHECK(loaded.query_aware() == aware);
    std::vector<float> lut_b(b.lookup_table_size());
    std::vector<float> lut_loaded(b.lookup_table_size());
    b.lookup_table(queries.row(0), lut_b);
    loaded.lookup_table(queries.row(0), lut_loaded);
    CHECK(lut_b == lut_loaded);
    // Through the rotation, the table still scores the decoded vector exactly.
    const PqCodes codes = b.encode(data, 2);
    std::vector<float> decoded(b.dim());
    for (std::size_t i = 0; i < data.rows; i += 97) {
      b.decode(codes, i, decoded);
      const double exact = dot(queries.row(0), decoded);
      CHECK(std::abs(b.estimate(lut_b, codes, i) - exact) <= 1e-4 * norm(queries.row(0)) * norm(decoded) + 1e-4);
    }
  }
}

TEST_CASE("the rotation is dropped where the contiguous split quantizes better") {
  // Each 2-d sub-space takes one of 16 fixed points, so contiguous 4-bit codes are exact;
  // unequal scales make the rotation look attractive by variance, yet it would mix them.
  const std::size_t dim = 8;
  std::mt19937_64 rng(41);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> points(4 * 16 * 2);
  for (float& v : points) v = normal(rng);
  Matrix data(2000, dim);
  for (std::size_t i = 0; i < data.rows; ++i) {
    for (std::size_t m = 0; m < 4; ++m) {
      const std::size_t p = rng() % 16;
      const auto scale = static_cast<float>((m + 1) * (m + 1));
      for (std::size_t j = 0; j < 2; ++j) data.row(i)[2 * m + j] = scale * points[(m * 16 + p) * 2 + j];
    }
  }
  const QueryAwarePq a = QueryAwarePq::train(data, MatrixView{}, options_for(4, 4));
  const QueryAwarePq b = QueryAwarePq::train(data, MatrixView{}, options_for(4, 4, true));
  std::vector<float> lut_a(a.lookup_table_size());
  std::vector<float> lut_b(b.lookup_table_size());
  a.lookup_table(data.row(0), lut_a);
  b.lookup_table(data.row(0), lut_b);
  CHECK(lut_a == lut_b);  // the same, unrotated codebooks
}

// The saved bytes of `pq`, relabelled as format `version`, with the checksum redone.
std::string saved_as_version(const QueryAwarePq& pq, char version) {
  std::stringstream stream;
  pq.save(stream);
  std::string bytes = stream.str();
  bytes[8] = version;  // the version field
  bytes.resize(bytes.size() - 8);
  stored_bytes::put_u64(bytes, stored_bytes::fnv1a(bytes));
  return bytes;
}

// Whether `a` and `b` give `query` the same lookup table.
bool same_table(const QueryAwarePq& a, const QueryAwarePq& b, std::span<const float> query) {
  std::vector<float> table_a(a.lookup_table_size());
  std::vector<float> table_b(b.lookup_table_size());
  a.lookup_table(query, table_a);
  b.lookup_table(query, table_b);
  return table_a == table_b;
}

TEST_CASE("a version 1 codebook (symmetric map, no rotation) still loads and scores the same") {
  const testing::OodSet set = testing::ood_synthetic(1000, 500, 3, 16, 17);
  const QueryAwarePqOptions options = options_for(4, 8);  // unrotated, separate, as version 1 wrote
  const QueryAwarePq pq = QueryAwarePq::train(set.keys, set.train_queries, options);
  std::istringstream in(saved_as_version(pq, 1));
  const QueryAwarePq loaded = QueryAwarePq::load(in, "v1.bin");
  CHECK(loaded.query_aware());
  CHECK(same_table(pq, loaded, set.eval_queries.row(1)));
}

TEST_CASE("overlapping codebooks: the chain encode finds the least-error codes and the table scores them exactly") {
  // 6 dims in 3 sub-spaces of 16 codes: every one of the 16³ chains can be tried, and the
  // Viterbi beam (16) covers all predecessors, so the encode must find the best.
  const Matrix data = gaussian(2000, 6, 51);
  const Matrix queries = gaussian(300, 6, 52);
  QueryAwarePqOptions overlapping = options_for(3, 4);
  overlapping.overlapping = true;
  const QueryAwarePq pq = QueryAwarePq::train(data, MatrixView{}, overlapping);
  const QueryAwarePq product = QueryAwarePq::train(data, MatrixView{}, options_for(3, 4));
  REQUIRE(pq.overlapping());
  REQUIRE_FALSE(product.overlapping());
  std::vector<std::uint8_t> every_chain;
  for (unsigned chain = 0; chain < 16 * 16 * 16; ++chain) {
    for (unsigned m = 0; m < 3; ++m) every_chain.push_back(static_cast<std::uint8_t>((chain >> (4 * m)) & 15u));
  }
  const PqCodes all(every_chain, 3, 4);
  std::vector<std::vector<float>> decoded_chains(all.size(), std::vector<float>(6));
  for (std::size_t c = 0; c < all.size(); ++c) pq.decode(all, c, decoded_chains[c]);
  auto squared_error = [](std::span<const float> a, std::span<const float> b) {
    double sum = 0;
    for (std::size_t j = 0; j < a.size(); ++j) sum += std::pow(double{a[j]} - b[j], 2);
    return sum;
  };
  const PqCodes codes = pq.encode(data, 2);
  const PqCodes product_codes = product.encode(data, 2);
  std::vector<float> decoded(6);
  double error = 0;
  double product_error = 0;
  for (std::size_t i = 0; i < data.rows; ++i) {
    pq.decode(codes, i, decoded);
    const double found = squared_error(data.row(i), decoded);
    error += found;
    if (i % 10 == 0) {
      double best = std::numeric_limits<double>::infinity();
      for (const auto& chain : decoded_chains) best = std::min(best, squared_error(data.row(i), chain));
      REQUIRE(found <= best + 1e-5);
    }
    product.decode(product_codes, i, decoded);
    product_error += squared_error(data.row(i), decoded);
  }
  MESSAGE("squared reconstruction error: product ", product_error / data.rows, ", overlapping ", error / data.rows);
  CHECK(error < 0.95 * product_error);
  // The table scores the decoded chain, and code_distance is the decoded vectors' distance.
  std::vector<float> lut(pq.lookup_table_size());
  pq.lookup_table(queries.row(0), lut);
  std::vector<float> other(6);
  for (std::size_t i = 0; i + 1 < data.rows; i += 37) {
    pq.decode(codes, i, decoded);
    CHECK(pq.estimate(lut, codes, i) == doctest::Approx(dot(queries.row(0), decoded)).epsilon(1e-4));
    pq.decode(codes, i + 1, other);
    std::uint8_t packed[2][2] = {};  // nibble-packed rows, as code_distance takes 4-bit codes
    for (std::size_t r = 0; r < 2; ++r) {
      for (std::size_t m = 0; m < 3; ++m) packed[r][m / 2] |= static_cast<std::uint8_t>(codes.get(i + r, m) << (4 * (m % 2)));
    }
    CHECK(pq.code_distance(packed[0], packed[1]) == doctest::Approx(squared_error(decoded, other)).epsilon(1e-4));
  }
}

TEST_CASE("overlapping score-aware codebooks cut the top-score error of separate ones" * doctest::test_suite("quality")) {
  const testing::OodSet set = testing::ood_synthetic(6000, 4000, 100, 64, 2024);
  QueryAwarePqOptions overlapping = options_for(16, 8);
  overlapping.overlapping = true;
  const QueryAwarePq a = QueryAwarePq::train(set.keys, set.train_queries, options_for(16, 8));
  const QueryAwarePq b = QueryAwarePq::train(set.keys, set.train_queries, overlapping);
  REQUIRE(b.anisotropy() > 1.0f);  // so the chain's anisotropic codes and codebooks are exercised too
  const double error_a = top_score_error(a, a.encode(set.keys, 2), set.keys, set.eval_queries, 100);
  const double error_b = top_score_error(b, b.encode(set.keys, 2), set.keys, set.eval_queries, 100);
  MESSAGE("top-100 score MSE: separate ", error_a, ", overlapping ", error_b);
  CHECK(error_b < 0.9 * error_a);
}

TEST_CASE("a version 2 codebook still loads; a version 2 header cannot claim overlapping codebooks") {
  const testing::OodSet set = testing::ood_synthetic(1000, 500, 3, 16, 19);
  for (const bool overlapping : {false, true}) {
    CAPTURE(overlapping);
    QueryAwarePqOptions options = options_for(4, 8);
    options.overlapping = overlapping;
    const QueryAwarePq pq = QueryAwarePq::train(set.keys, set.train_queries, options);
    std::istringstream in(saved_as_version(pq, 2));
    if (overlapping) {
      CHECK_THROWS_WITH_AS(QueryAwarePq::load(in, "v2.bin"), doctest::Contains("flags"), CorruptFile);
      continue;
    }
    CHECK(same_table(pq, QueryAwarePq::load(in, "v2.bin"), set.eval_queries.row(1)));
  }
}

TEST_CASE("flat search re-ranks exactly: all candidates give the exact top k, fewer give high recall") {
  const testing::OodSet set = testing::ood_synthetic(3000, 2000, 40, 32, 515);
  for (const unsigned bits : {8u, 4u}) {
    CAPTURE(bits);
    const QueryAwarePq pq = QueryAwarePq::train(set.keys, set.train_queries, options_for(8, bits));
    const PqCodes codes = pq.encode(set.keys, 2);
    PqFlatSearchParams params;
    params.k = 10;
    params.candidates = set.keys.rows;
    params.threads = 2;
    const auto all = pq_flat_search(pq, codes, set.keys, set.eval_queries, params);
    CHECK(recall_at(all, set.keys, set.eval_queries, 10) == doctest::Approx(1.0));
    for (std::size_t q = 0; q < all.size(); ++q) {
      REQUIRE(all[q].size() == 10);
      CHECK(std::is_sorted(all[q].begin(), all[q].end(), [](const Hit& a, const Hit& b) { return a.score > b.score; }));
      CHECK(all[q][0].score == doctest::Approx(dot(set.eval_queries.row(q), set.keys.row(all[q][0].id))).epsilon(1e-4));
    }
    params.candidates = 150;  // 5 % of the keys
    const double recall = recall_at(pq_flat_search(pq, codes, set.keys, set.eval_queries, params), set.keys,
                                    set.eval_queries, 10);
    MESSAGE("bits ", bits, ": recall@10 re-ranking 150 of 3000: ", recall);
    CHECK(recall > (bits == 8 ? 0.95 : 0.8));
  }
}

TEST_CASE("save and load round-trip; a damaged file is CorruptFile, a newer one IncompatibleVersion") {
  const testing::OodSet set = testing::ood_synthetic(1000, 500, 3, 16, 13);
  for (const bool aware : {false, true}) {
    CAPTURE(aware);
    QueryAwarePqOptions options = options_for(4, 4);
    options.overlapping = aware;  // the query-aware round also carries overlapping codebooks
    const QueryAwarePq pq =
        QueryAwarePq::train(set.keys, aware ? set.train_queries.view() : MatrixView{}, options);
    std::stringstream stream;
    pq.save(stream);
    const std::string bytes = stream.str();
    std::istringstream in(bytes);
    const QueryAwarePq loaded = QueryAwarePq::load(in, "pq.bin");
    CHECK(loaded.dim() == pq.dim());
    CHECK(loaded.sub_spaces() == pq.sub_spaces());
    CHECK(loaded.bits() == pq.bits());
    CHECK(loaded.query_aware() == aware);
    CHECK(loaded.overlapping() == aware);
    const PqCodes codes = pq.encode(set.keys, 1);
    const PqCodes reloaded_codes = loaded.encode(set.keys, 1);
    std::vector<float> a(pq.lookup_table_size());
    std::vector<float> b(pq.lookup_table_size());
    pq.lookup_table(set.eval_queries.row(0), a);
    loaded.lookup_table(set.eval_queries.row(0), b);
    CHECK(a == b);
    for (std::size_t i = 0; i < codes.size(); ++i) {
      for (std::size_t m = 0; m < 4; ++m) REQUIRE(codes.get(i, m) == reloaded_codes.get(i, m));
    }

    auto load_bytes = [](const std::string& data) {
      std::istringstream damaged(data);
      return QueryAwarePq::load(damaged, "damaged.bin");
    };
    std::string flipped = bytes;
    flipped[bytes.size() / 2] ^= 0x10;
    CHECK_THROWS_AS(load_bytes(flipped), CorruptFile);
    CHECK_THROWS_AS(load_bytes(bytes.substr(0, bytes.size() - 3)), CorruptFile);
    CHECK_THROWS_AS(load_bytes(bytes.substr(0, 10)), CorruptFile);
    std::string magic = bytes;
    magic[0] = 'X';
    CHECK_THROWS_AS(load_bytes(magic), CorruptFile);
    std::string newer = bytes;
    newer[8] = 9;
    CHECK_THROWS_AS(load_bytes(newer), IncompatibleVersion);
    std::string odd_split = bytes;  // M = 5 does not divide 16; caught before the checksum
    odd_split[20] = 5;
    CHECK_THROWS_WITH_AS(load_bytes(odd_split), doctest::Contains("does not divide"), CorruptFile);
    CHECK(loaded.anisotropy() == pq.anisotropy());
    if (!aware) {
      std::string no_maps = bytes;  // the anisotropic bit alone: caught before the checksum
      no_maps[12] = 2;
      CHECK_THROWS_WITH_AS(load_bytes(no_maps), doctest::Contains("without query-aware"), CorruptFile);
    }
  }
}

TEST_CASE("bad input is rejected with messages that name the value") {
  const Matrix data = gaussian(300, 12, 1);
  const Matrix queries = gaussian(50, 12, 2);
  CHECK_THROWS_WITH_AS(QueryAwarePq::train(data, queries, options_for(5, 8)), doctest::Contains("12"),
                       InvalidArgument);
  CHECK_THROWS_AS(QueryAwarePq::train(data, queries, options_for(0, 8)), InvalidArgument);
  CHECK_THROWS_AS(QueryAwarePq::train(data, queries, options_for(4, 6)), InvalidArgument);
  // 8 bits need 256 training rows, 4 bits 16.
  CHECK_THROWS_WITH_AS(QueryAwarePq::train(data.view().slice(0, 255), queries, options_for(4, 8)),
                       doctest::Contains("255 training rows"), InvalidArgument);
  CHECK_NOTHROW(QueryAwarePq::train(data.view().slice(0, 16), queries, options_for(4, 4)));
  CHECK_THROWS_AS(QueryAwarePq::train(data.view().slice(0, 15), queries, options_for(4, 4)), InvalidArgument);
  const Matrix narrow = gaussian(50, 8, 3);
  CHECK_THROWS_WITH_AS(QueryAwarePq::train(data, narrow, options_for(4, 8)), doctest::Contains("dimension 8"),
                       InvalidArgument);
  Matrix with_nan = data;
  with_nan.row(17)[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(QueryAwarePq::train(with_nan, queries, options_for(4, 8)), doctest::Contains("row 17"),
                       InvalidArgument);
  Matrix query_nan = queries;
  query_nan.row(4)[0] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(QueryAwarePq::train(data, query_nan, options_for(4, 8)), InvalidArgument);

  const QueryAwarePq pq = QueryAwarePq::train(data, queries, options_for(4, 4));
  CHECK_THROWS_AS(pq.encode(with_nan), InvalidArgument);
  CHECK_THROWS_AS(pq.encode(narrow), InvalidArgument);
  std::vector<float> lut(pq.lookup_table_size());
  const std::vector<float> short_query(11, 1.0f);
  CHECK_THROWS_WITH_AS(pq.lookup_table(short_query, lut), doctest::Contains("dimension 11"), InvalidArgument);

  const PqCodes codes = pq.encode(data);
  PqFlatSearchParams params;
  CHECK_THROWS_AS(pq_flat_search(pq, codes, data, narrow, params), InvalidArgument);
  CHECK_THROWS_AS(pq_flat_search(pq, codes, data.view().slice(0, 299), queries, params), InvalidArgument);
  CHECK_THROWS_AS(pq_flat_search(pq, codes, data, query_nan, params), InvalidArgument);
  params.candidates = 5;
  CHECK_THROWS_WITH_AS(pq_flat_search(pq, codes, data, queries, params), doctest::Contains("candidates 5"),
                       InvalidArgument);
  params.k = 0;
  CHECK_THROWS_AS(pq_flat_search(pq, codes, data, queries, params), InvalidArgument);
  const QueryAwarePq other = QueryAwarePq::train(data, queries, options_for(4, 8));
  params = {};
  CHECK_THROWS_AS(pq_flat_search(other, codes, data, queries, params), InvalidArgument);
}

}  // namespace
}  // namespace quiver::quant
