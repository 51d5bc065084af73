// sparse_attention: with peaked attention (the top-k keys hold almost all softmax mass) the
// retrieved-keys output matches full attention over every key; the softmax over the
// retrieved keys is exact; the scale is honoured; and mismatched inputs are rejected.
#include "quiver/attention.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "quiver/error.h"
#include "quiver/index.h"

using namespace quiver;

namespace {

Matrix gaussian(std::size_t rows, std::size_t cols, float sigma, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  Matrix m(rows, cols);
  for (float& v : m.values) v = normal(rng);
  return m;
}

double dot(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += double{a[i]} * b[i];
  return sum;
}

// Softmax(scale · <q, key>) over the given key rows (all when `rows` is empty) applied to
// the values, in double; also the share of the full softmax mass those rows hold.
struct Reference {
  std::vector<double> output;
  double mass = 0;
};

Reference attend(std::span<const float> q, const Matrix& keys, const Matrix& values, double scale,
                 const std::vector<std::size_t>& rows) {
  std::vector<double> scores(keys.rows);
  for (std::size_t i = 0; i < keys.rows; ++i) scores[i] = scale * dot(q, keys.row(i));
  const double top = *std::max_element(scores.begin(), scores.end());
  double all = 0;
  for (const double s : scores) all += std::exp(s - top);
  std::vector<std::size_t> chosen = rows;
  if (chosen.empty()) {
    for (std::size_t i = 0; i < keys.rows; ++i) chosen.push_back(i);
  }
  Reference ref;
  ref.output.assign(values.cols, 0.0);
  double total = 0;
  for (const std::size_t i : chosen) {
    const double w = std::exp(scores[i] - top);
    total += w;
    for (std::size_t c = 0; c < values.cols; ++c) ref.output[c] += w * values.row(i)[c];
  }
  for (double& v : ref.output) v /= total;
  ref.mass = total / all;
  return ref;
}

std::vector<std::size_t> exact_top(std::span<const float> q, const Matrix& keys, std::size_t k) {
  std::vector<std::size_t> order(keys.rows);
  for (std::size_t i = 0; i < keys.rows; ++i) order[i] = i;
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::size_t a, std::size_t b) { return dot(q, keys.row(a)) > dot(q, keys.row(b)); });
  order.resize(k);
  return order;
}

// Queries that point at one key each, scaled so that scale · <q, key> towers over the rest:
// the peaked attention of a head that attends to a few tokens.
Matrix peaked_queries(const Matrix& keys, std::size_t count, float strength, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Matrix noise = gaussian(count, keys.cols, 0.3f, seed + 1);
  Matrix queries(count, keys.cols);
  for (std::size_t q = 0; q < count; ++q) {
    const auto target = keys.row(rng() % keys.rows);
    for (std::size_t c = 0; c < keys.cols; ++c) queries.row(q)[c] = strength * target[c] + noise.row(q)[c];
  }
  return queries;
}

const std::size_t kDim = 32;

struct Fixture {
  Matrix keys = gaussian(3000, kDim, 1.0f, 41);
  Matrix values = gaussian(3000, 16, 1.0f, 42);
  Index index = Index::build(IndexSpec::parse("hnsw16,efc100,f32", Metric::InnerProduct, kDim), keys);
};

}  // namespace

TEST_CASE("sparse attention matches full attention when the top k hold the attention mass") {
  const Fixture f;
  const Matrix queries = peaked_queries(f.keys, 24, 10.0f, 7);
  AttentionParams params;
  params.k = 32;
  params.threads = 2;
  const AttentionResult result = sparse_attention(f.index, queries, f.values, params);
  REQUIRE(result.hits.size() == queries.rows);
  REQUIRE(result.output.rows == queries.rows);
  REQUIRE(result.output.cols == f.values.cols);
  const double scale = 1.0 / std::sqrt(double(kDim));
  for (std::size_t q = 0; q < queries.rows; ++q) {
    CAPTURE(q);
    REQUIRE(result.hits[q].size() == params.k);
    const Reference full = attend(queries.row(q), f.keys, f.values, scale, {});
    // The premise of the test: the exact top k hold nearly all of the mass.
    const Reference top = attend(queries.row(q), f.keys, f.values, scale, exact_top(queries.row(q), f.keys, params.k));
    REQUIRE(top.mass > 0.999);
    double error = 0;
    double size = 0;
    for (std::size_t c = 0; c < f.values.cols; ++c) {
      error = std::max(error, std::abs(result.output.row(q)[c] - full.output[c]));
      size = std::max(size, std::abs(full.output[c]));
    }
    CHECK(error <= 2e-3 * std::max(size, 1.0));
  }
}

TEST_CASE("sparse attention is the exact softmax over the retrieved keys, with the given scale") {
  const Fixture f;
  const Matrix queries = gaussian(10, kDim, 1.0f, 9);  // not peaked: the weights spread
  for (const float scale : {0.0f, 0.05f, 1.0f}) {
    CAPTURE(scale);
    AttentionParams params;
    params.k = 20;
    params.scale = scale;
    const AttentionResult result = sparse_attention(f.index, queries, f.values, params);
    const double used = scale > 0 ? scale : 1.0 / std::sqrt(double(kDim));
    for (std::size_t q = 0; q < queries.rows; ++q) {
      std::vector<std::size_t> ids;
      for (const Hit& hit : result.hits[q]) {
        ids.push_back(hit.id);
        CHECK(hit.score == doctest::Approx(dot(queries.row(q), f.keys.row(hit.id))).epsilon(1e-4));
      }
      const Reference ref = attend(queries.row(q), f.keys, f.values, used, ids);
      for (std::size_t c = 0; c < f.values.cols; ++c) {
        CHECK(result.output.row(q)[c] == doctest::Approx(ref.output[c]).epsilon(1e-4).scale(1.0));
      }
    }
  }
  // A vanishing scale flattens the softmax: the output is the plain mean of the retrieved values.
  AttentionParams flat;
  flat.k = 5;
  flat.scale = 1e-9f;
  const AttentionResult result = sparse_attention(f.index, queries, f.values, flat);
  for (std::size_t c = 0; c < f.values.cols; ++c) {
    double mean = 0;
    for (const Hit& hit : result.hits[0]) mean += f.values.row(hit.id)[c] / 5.0;
    CHECK(result.output.row(0)[c] == doctest::Approx(mean).epsilon(1e-5).scale(1.0));
  }
}

TEST_CASE("sparse attention rejects mismatched values, queries and parameters") {
  const Fixture f;
  const Matrix queries = gaussian(3, kDim, 1.0f, 3);
  // Too few value rows: some retrieved key id has none.
  const Matrix short_values = gaussian(10, 16, 1.0f, 4);
  CHECK_THROWS_WITH_AS(sparse_attention(f.index, queries, short_values), doctest::Contains("has no value row"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(sparse_attention(f.index, queries, Matrix(3000, 0)), doctest::Contains("3000 x 0"),
                       InvalidArgument);
  const Matrix wide = gaussian(3, kDim + 1, 1.0f, 5);
  CHECK_THROWS_WITH_AS(sparse_attention(f.index, wide, f.values), doctest::Contains("dimension 33"), InvalidArgument);
  Matrix nan = queries;
  nan.row(1)[2] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(sparse_attention(f.index, nan, f.values), doctest::Contains("query row 1"), InvalidArgument);
  AttentionParams params;
  params.k = 0;
  CHECK_THROWS_AS(sparse_attention(f.index, queries, f.values, params), InvalidArgument);
  params.k = 8;
  params.scale = -1.0f;
  CHECK_THROWS_AS(sparse_attention(f.index, queries, f.values, params), InvalidArgument);
  const Index l2 = Index::build(IndexSpec::parse("hnsw8,f32", Metric::L2, kDim), f.keys.view().slice(0, 200));
  CHECK_THROWS_WITH_AS(sparse_attention(l2, queries, f.values), doctest::Contains("metric l2"), InvalidArgument);
}
