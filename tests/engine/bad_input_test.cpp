#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "quiver/error.h"
#include "quiver/index.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

TEST_CASE("vectors of the wrong dimension are rejected with both dimensions named") {
  auto index = Index::create(IndexSpec::parse("hnsw8", Metric::L2, 8));
  auto wrong = uniform_vectors(3, 9, 1);
  CHECK_THROWS_WITH_AS(index.add({}, wrong), doctest::Contains("9 dimensions but the index expects 8"), InvalidArgument);
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("hnsw8", Metric::L2, 8), wrong),
                       doctest::Contains("expects 8"), InvalidArgument);
}

TEST_CASE("NaN and infinite components are rejected, naming row and component") {
  auto data = uniform_vectors(10, 4, 2);
  data.row(6)[2] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("hnsw8", Metric::L2, 4), data),
                       doctest::Contains("row 6, component 2 is NaN"), InvalidArgument);
  data.row(6)[2] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("hnsw8", Metric::L2, 4), data), doctest::Contains("infinite"),
                       InvalidArgument);
}

TEST_CASE("a zero vector has no direction under cosine") {
  Matrix zero(1, 4);
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("hnsw8", Metric::Cosine, 4), zero),
                       doctest::Contains("zero vector"), InvalidArgument);
}

TEST_CASE("ids: one per vector, unique per batch") {
  auto data = uniform_vectors(3, 4, 3);
  std::vector<std::uint64_t> two{1, 2};
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("hnsw8", Metric::L2, 4), data, two),
                       doctest::Contains("2 ids for 3 vectors"), InvalidArgument);
  std::vector<std::uint64_t> repeated{1, 2, 1};
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("hnsw8", Metric::L2, 4), data, repeated),
                       doctest::Contains("id 1 appears twice"), InvalidArgument);
}

TEST_CASE("bad queries and search parameters") {
  auto data = uniform_vectors(20, 4, 4);
  auto index = Index::build(IndexSpec::parse("hnsw8", Metric::L2, 4), data);
  std::vector<float> query(4, 0.5f);
  std::vector<float> short_query(3, 0.5f);
  CHECK_THROWS_WITH_AS(index.search(short_query, {}), doctest::Contains("query has 3 dimensions"), InvalidArgument);
  query[1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(index.search(query, {}), doctest::Contains("component 1 is NaN"), InvalidArgument);
  query[1] = 0.5f;
  CHECK_THROWS_WITH_AS(index.search(query, {.k = 0}), doctest::Contains("k = 0"), InvalidArgument);
  CHECK_THROWS_WITH_AS(index.search(query, {.k = 21, .ef = 30}), doctest::Contains("exceeds the 20 vectors"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(index.search(query, {.k = 10, .ef = 0}), doctest::Contains("ef = 0"), InvalidArgument);
  CHECK_THROWS_WITH_AS(index.search_batch(uniform_vectors(2, 5, 1), {}), doctest::Contains("5 dimensions"),
                       InvalidArgument);
}

TEST_CASE("searching an empty index and removing unknown ids") {
  auto index = Index::create(IndexSpec::parse("hnsw8", Metric::L2, 4));
  std::vector<float> query(4, 0.0f);
  CHECK_THROWS_WITH_AS(index.search(query, {.k = 1, .ef = 1}), doctest::Contains("empty"), InvalidArgument);
  CHECK_THROWS_WITH_AS(index.remove(42), doctest::Contains("id 42"), NotFound);
  CHECK_FALSE(index.contains(42));
}
