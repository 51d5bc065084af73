#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "engine/exact_neighbours.h"
#include "quant/distance.h"
#include "quiver/index.h"
#include "quiver/vector_io.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

// The README documents these: recall@10 >= 0.95 at ef = 64 for L2 (synthetic and
// Fashion-MNIST) and at ef = 128 for inner product and cosine on unit-norm synthetic
// data, where neighbours sit closer together relative to their spread.
constexpr std::size_t documented_ef_l2 = 64;
constexpr std::size_t documented_ef_angular = 128;

struct EvenIds final : IdFilter {
  bool allows(std::uint64_t id) const override { return id % 2 == 0; }
};

}  // namespace

TEST_CASE("recall@10 >= 0.95 at the documented ef on seeded clustered data, every metric and encoding" * doctest::test_suite("quality")) {
  auto data = clustered_vectors(4000, 32, 7);
  auto queries = clustered_vectors(100, 32, 8);
  auto unit_data = data;
  auto unit_queries = queries;
  for (std::size_t i = 0; i < unit_data.rows; ++i) quant::normalize(unit_data.row(i));
  for (std::size_t i = 0; i < unit_queries.rows; ++i) quant::normalize(unit_queries.row(i));
  for (auto metric : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
    for (auto encoding : {"f32", "f16"}) {
      CAPTURE(to_string(metric));
      CAPTURE(std::string(encoding));
      // Inner product runs on unit vectors (raw MIPS on clustered data is the
      // out-of-distribution problem); cosine gets the raw vectors and normalises itself.
      const auto& base = metric == Metric::InnerProduct ? unit_data : data;
      const auto& asked = metric == Metric::InnerProduct ? unit_queries : queries;
      std::size_t ef = metric == Metric::L2 ? documented_ef_l2 : documented_ef_angular;
      BuildOptions deterministic;  // one thread: the same graph on every run
      deterministic.threads = 1;
      auto index = Index::build(IndexSpec::parse(std::string("hnsw16,efc200,") + encoding, metric, 32), base, {},
                                deterministic);
      CHECK(index.size() == 4000);
      SearchStats stats;
      auto found = index.search_batch(asked, {.k = 10, .ef = ef}, 2, &stats);
      double measured = recall(found, exact_neighbours(base, asked, 10, metric));
      CAPTURE(measured);
      CHECK(measured >= 0.95);
      CHECK(stats.queries == 100);
      CHECK(stats.distances / stats.queries < 4000);  // cheaper than brute force
    }
  }
}

TEST_CASE("recall@10 >= 0.95 at ef 64 on a Fashion-MNIST subset (L2)" * doctest::test_suite("quality")) {
  auto data = read_vectors(QUIVER_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", 10000);
  auto queries = read_vectors(QUIVER_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", 100);
  auto index = Index::build(IndexSpec::parse("hnsw16,efc100,f32", Metric::L2, 784), data);
  auto found = index.search_batch(queries, {.k = 10, .ef = documented_ef_l2});
  CHECK(recall(found, exact_neighbours(data, queries, 10, Metric::L2)) >= 0.95);
}

TEST_CASE("scores are the metric's values, best first") {
  auto data = uniform_vectors(500, 16, 3);
  auto queries = uniform_vectors(5, 16, 4);
  for (auto metric : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
    auto index = Index::build(IndexSpec::parse("hnsw16", metric, 16), data);
    for (std::size_t q = 0; q < queries.rows; ++q) {
      auto hits = index.search(queries.row(q), {.k = 10, .ef = 100});
      REQUIRE(hits.size() == 10);
      for (std::size_t i = 0; i < hits.size(); ++i) {
        double expected = reference_distance(metric, queries.row(q), data.row(hits[i].id));
        if (metric != Metric::L2) expected = -expected;
        CHECK(hits[i].score == doctest::Approx(expected).epsilon(1e-4));
        if (i > 0) CHECK((metric == Metric::L2 ? hits[i - 1].score <= hits[i].score : hits[i - 1].score >= hits[i].score));
      }
    }
  }
}

TEST_CASE("search_batch returns what search returns, for any thread count") {
  auto data = clustered_vectors(2000, 24, 11);
  auto queries = clustered_vectors(50, 24, 12);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 24), data);
  auto batch = index.search_batch(queries, {.k = 5, .ef = 40}, 3);
  for (std::size_t q = 0; q < queries.rows; ++q) {
    auto single = index.search(queries.row(q), {.k = 5, .ef = 40});
    REQUIRE(single.size() == batch[q].size());
    for (std::size_t i = 0; i < single.size(); ++i) CHECK(single[i].id == batch[q][i].id);
  }
}

TEST_CASE("a window narrower than k walks no further and still returns k hits, its first ones a k = ef search's") {
  auto data = clustered_vectors(3000, 16, 21);
  auto queries = clustered_vectors(40, 16, 22);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 16), data);
  SearchStats narrow_work, small_work, wide_work;
  auto narrow = index.search_batch(queries, {.k = 50, .ef = 10}, 1, &narrow_work);
  auto small = index.search_batch(queries, {.k = 10, .ef = 10}, 1, &small_work);
  index.search_batch(queries, {.k = 50, .ef = 50}, 1, &wide_work);
  CHECK(narrow_work.distances == small_work.distances);  // the same walk
  CHECK(narrow_work.distances < wide_work.distances);
  for (std::size_t q = 0; q < queries.rows; ++q) {
    REQUIRE(narrow[q].size() == 50);
    for (std::size_t i = 0; i < small[q].size(); ++i) CHECK(narrow[q][i].id == small[q][i].id);
    for (std::size_t i = 1; i < narrow[q].size(); ++i) CHECK(narrow[q][i - 1].score <= narrow[q][i].score);
  }
}

TEST_CASE("a filter is applied inside the walk: k allowed results with high recall") {
  auto data = clustered_vectors(3000, 16, 21);
  auto queries = clustered_vectors(50, 16, 22);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 16), data);
  EvenIds even;
  auto found = index.search_batch(queries, {.k = 10, .ef = 64, .filter = &even});
  Matrix even_rows(1500, 16);
  for (std::size_t i = 0; i < 1500; ++i) std::copy_n(data.row(2 * i).data(), 16, even_rows.row(i).data());
  auto truth = exact_neighbours(even_rows, queries, 10, Metric::L2);
  for (auto& row : truth) {
    for (auto& id : row) id *= 2;
  }
  for (const auto& hits : found) {
    CHECK(hits.size() == 10);
    for (const auto& hit : hits) CHECK(hit.id % 2 == 0);
  }
  CHECK(recall(found, truth) >= 0.95);
}

TEST_CASE("a raised cancel flag stops the search early with partial results") {
  auto data = clustered_vectors(3000, 16, 31);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 16), data);
  std::atomic<bool> cancel{true};
  SearchStats full, cut;
  index.search(data.row(0), {.k = 10, .ef = 200}, &full);
  auto hits = index.search(data.row(0), {.k = 10, .ef = 200, .cancel = &cancel}, &cut);
  CHECK(hits.size() <= 10);
  CHECK(cut.distances < full.distances / 4);
}

TEST_CASE("concurrent searches with different parameters do not interfere") {
  auto data = clustered_vectors(3000, 16, 41);
  auto queries = clustered_vectors(40, 16, 42);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 16), data);
  auto narrow = index.search_batch(queries, {.k = 3, .ef = 10}, 1);
  auto wide = index.search_batch(queries, {.k = 20, .ef = 200}, 1);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        bool use_wide = (t + round) % 2 == 0;
        auto got = index.search_batch(queries, use_wide ? SearchParams{.k = 20, .ef = 200} : SearchParams{.k = 3, .ef = 10}, 1);
        const auto& expected = use_wide ? wide : narrow;
        for (std::size_t q = 0; q < got.size(); ++q) {
          if (got[q].size() != expected[q].size()) ++mismatches;
          for (std::size_t i = 0; i < got[q].size() && i < expected[q].size(); ++i) {
            if (got[q][i].id != expected[q][i].id) ++mismatches;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(mismatches == 0);
}
