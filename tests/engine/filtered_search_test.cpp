#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "quiver/attribute_store.h"
#include "quiver/error.h"
#include "quiver/exact_search.h"
#include "quiver/filtered_search.h"
#include "quiver/index.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

constexpr std::size_t rows = 20000;
constexpr std::size_t dim = 16;
constexpr std::size_t k = 10;

// Seeded attributes: `bucket` uniform in [0, 1000) so that `bucket < 1000 * s` admits
// a fraction s of the ids; `colour` and `tags` ride along to exercise the other types.
AttributeStore seeded_store() {
  std::mt19937_64 rng(2024);
  std::uniform_int_distribution<std::int64_t> bucket(0, 999);
  const char* colours[] = {"red", "green", "blue"};
  std::vector<std::uint64_t> ids(rows);
  std::vector<Attributes> attributes(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    ids[i] = i;
    attributes[i]["bucket"] = bucket(rng);
    attributes[i]["colour"] = std::string(colours[i % 3]);
    attributes[i]["tags"] = std::vector<std::string>{i % 2 ? "odd" : "even"};
  }
  auto store = AttributeStore::in_memory();
  store.set_many(ids, attributes);
  return store;
}

// Rows of one draw: queries come from the same clusters as the data.
Matrix slice(const Matrix& all, std::size_t first, std::size_t count) {
  Matrix out(count, all.cols);
  std::copy_n(all.values.begin() + static_cast<std::ptrdiff_t>(first * all.cols), count * all.cols, out.values.begin());
  return out;
}

struct Fixture {
  Matrix all = clustered_vectors(rows + 60, dim, 11);
  Matrix data = slice(all, 0, rows);
  Matrix queries = slice(all, rows, 60);
  AttributeStore store = seeded_store();
  Index index = [this] {
    BuildOptions options;
    options.threads = 2;
    return Index::build(IndexSpec::parse("hnsw16,efc100,f32", Metric::L2, dim), data, {}, options);
  }();
};

Fixture& fixture() {
  static Fixture shared;  // built once for all test cases of this file
  return shared;
}

// Recall of `found` against exact filtered neighbours (ids are row numbers).
double filtered_recall(const std::vector<std::vector<Hit>>& found, const std::vector<std::vector<Hit>>& truth) {
  std::size_t hits = 0, total = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    total += truth[q].size();
    for (const auto& t : truth[q]) {
      for (const auto& f : found[q]) hits += f.id == t.id;
    }
  }
  return total == 0 ? 1.0 : static_cast<double>(hits) / static_cast<double>(total);
}

}  // namespace

TEST_CASE("filtered search reaches recall >= 0.95 at selectivities 50%, 10%, 1%, 0.1% and picks the strategy by size") {
  auto& f = fixture();
  // Exact below 2% of the index or below 1000 ids (the default 2000 would put the 10%
  // case, ~2000 ids of 20000, on either side of the line depending on the draw).
  FilteredSearchOptions options;
  options.exact_fraction = 0.02;
  options.exact_max_ids = 1000;
  struct Case {
    double selectivity;
    FilterStrategy expected;
  };
  // The baseline: at this ef the unfiltered search itself reaches the bound on this data,
  // so a filtered recall below it would be the filter's fault.
  constexpr std::size_t ef = 32;
  auto unfiltered = f.index.search_batch(f.queries, {.k = k, .ef = ef}, 2);
  double baseline = filtered_recall(unfiltered, exact_search(f.data, f.queries, k, Metric::L2, 2));
  CAPTURE(baseline);
  REQUIRE(baseline >= 0.95);
  for (auto [selectivity, expected] : {Case{0.5, FilterStrategy::Graph}, Case{0.1, FilterStrategy::Graph},
                                       Case{0.01, FilterStrategy::Exact}, Case{0.001, FilterStrategy::Exact}}) {
    std::string expression = "bucket < " + std::to_string(static_cast<int>(selectivity * 1000));
    CAPTURE(expression);
    auto allowed = f.store.select(expression);
    CHECK(std::abs(static_cast<double>(allowed->size()) / rows - selectivity) < 0.25 * selectivity + 0.001);
    auto truth = exact_search(f.data, f.queries, k, Metric::L2, 2, allowed.get());

    std::vector<std::vector<Hit>> found;
    for (std::size_t q = 0; q < f.queries.rows; ++q) {
      auto result = filtered_search(f.index, f.store, f.queries.row(q), expression, {.k = k, .ef = ef}, options);
      CHECK(result.strategy == expected);
      CHECK(result.allowed == allowed->size());
      for (const auto& hit : result.hits) CHECK(allowed->allows(hit.id));
      found.push_back(result.hits);
    }
    double recall = filtered_recall(found, truth);
    CAPTURE(recall);
    CHECK(recall >= 0.95);
    if (expected == FilterStrategy::Exact) CHECK(recall == 1.0);

    // The graph path alone, forced, holds the bound too at every selectivity.
    FilteredSearchOptions graph_only;
    graph_only.exact_fraction = 0;
    graph_only.exact_max_ids = 0;
    std::vector<std::vector<Hit>> walked;
    for (std::size_t q = 0; q < f.queries.rows; ++q) {
      auto result = filtered_search(f.index, *allowed, f.queries.row(q), {.k = k, .ef = ef}, graph_only);
      CHECK(result.strategy == FilterStrategy::Graph);
      CHECK(result.ef >= ef);
      walked.push_back(result.hits);
    }
    double walked_recall = filtered_recall(walked, truth);
    CAPTURE(walked_recall);
    CHECK(walked_recall >= 0.95);
    MESSAGE("selectivity " << selectivity << ": recall " << recall << " (" << to_string(expected)
                           << "), graph walk alone " << walked_recall << ", unfiltered " << baseline);
  }
}

TEST_CASE("selective filters raise ef on the graph path; the thresholds are options") {
  auto& f = fixture();
  auto query = f.queries.row(0);
  FilteredSearchOptions graph_only;
  graph_only.exact_fraction = 0;
  graph_only.exact_max_ids = 0;
  auto wide = filtered_search(f.index, f.store, query, "bucket < 500", {.k = k, .ef = 64}, graph_only);
  CHECK(wide.ef == 64);
  CHECK(wide.selectivity == doctest::Approx(0.5).epsilon(0.05));
  auto narrow = filtered_search(f.index, f.store, query, "bucket < 5", {.k = k, .ef = 64}, graph_only);
  CHECK(narrow.ef == 64 * 4);  // capped at max_ef_boost

  FilteredSearchOptions always_exact;
  always_exact.exact_fraction = 1.01;
  auto exact = filtered_search(f.index, f.store, query, R"(colour = "red" AND tags CONTAINS "even")",
                               {.k = k, .ef = 64}, always_exact);
  CHECK(exact.strategy == FilterStrategy::Exact);
  CHECK(exact.hits.size() == k);
  for (const auto& hit : exact.hits) CHECK(hit.id % 6 == 0);  // red: i % 3 == 0, even: i % 2 == 0

  auto none = filtered_search(f.index, f.store, query, "bucket < 0", {.k = k, .ef = 64});
  CHECK(none.strategy == FilterStrategy::Exact);
  CHECK(none.hits.empty());
  CHECK_THROWS_AS(filtered_search(f.index, f.store, query, "bucket <", {.k = k, .ef = 64}), InvalidArgument);
  CHECK_THROWS_AS(filtered_search(f.index, f.store, query, "weight < 3", {.k = k, .ef = 64}), InvalidArgument);
}

TEST_CASE("search_ids scores exactly the given ids, skips tombstones and rejects or skips unknown ids") {
  auto data = clustered_vectors(2000, dim, 21);
  auto queries = clustered_vectors(5, dim, 22);
  for (const char* spec : {"hnsw16,f32", "hnsw16,lvq8,rerank=f32"}) {
    CAPTURE(std::string(spec));
    auto index = Index::build(IndexSpec::parse(spec, Metric::L2, dim), data);
    std::vector<std::uint64_t> ids;
    for (std::uint64_t i = 0; i < 2000; i += 7) ids.push_back(i);
    AllowedIds allowed(ids);
    auto truth = exact_search(data, queries, k, Metric::L2, 1, &allowed);
    for (std::size_t q = 0; q < queries.rows; ++q) {
      auto hits = index.search_ids(queries.row(q), ids, k);
      REQUIRE(hits.size() == k);
      for (std::size_t i = 0; i < k; ++i) {
        CHECK(hits[i].id == truth[q][i].id);
        CHECK(hits[i].score == doctest::Approx(truth[q][i].score).epsilon(1e-4));
      }
    }
    auto best = index.search_ids(queries.row(0), ids, 1).front().id;
    index.remove(best);
    auto after = index.search_ids(queries.row(0), ids, ids.size());
    CHECK(after.size() == ids.size() - 1);
    for (const auto& hit : after) CHECK(hit.id != best);

    const std::uint64_t live_id = best == 0 ? 7 : 0;
    std::vector<std::uint64_t> unknown{live_id, 123456789};
    CHECK_THROWS_WITH_AS(index.search_ids(queries.row(0), unknown, k), doctest::Contains("123456789"), NotFound);
    auto skipped = index.search_ids(queries.row(0), unknown, k, nullptr, Index::UnknownIds::Skip);
    REQUIRE(skipped.size() == 1);
    CHECK(skipped.front().id == live_id);
    CHECK_THROWS_AS(index.search_ids(queries.row(0), ids, 0), InvalidArgument);
    std::vector<float> short_query(dim - 1, 0.0f);
    CHECK_THROWS_AS(index.search_ids(short_query, ids, k), InvalidArgument);
  }
}
