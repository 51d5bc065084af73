#include <doctest/doctest.h>

#include "engine/exact_neighbours.h"
#include "quiver/error.h"
#include "quiver/exact_search.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

struct MultipleOfFive final : IdFilter {
  bool allows(std::uint64_t id) const override { return id % 5 == 0; }
};

}  // namespace

TEST_CASE("exact_search agrees with a double-precision reference, for every metric") {
  auto data = uniform_vectors(700, 19, 1);
  auto queries = uniform_vectors(37, 19, 2);
  for (auto metric : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
    CAPTURE(to_string(metric));
    auto found = exact_search(data, queries, 7, metric, 3);
    CHECK(recall(found, exact_neighbours(data, queries, 7, metric)) >= 0.999);
    for (std::size_t q = 0; q < queries.rows; ++q) {
      REQUIRE(found[q].size() == 7);
      double expected = reference_distance(metric, queries.row(q), data.row(found[q][0].id));
      CHECK(found[q][0].score == doctest::Approx(metric == Metric::L2 ? expected : -expected).epsilon(1e-4));
    }
  }
}

TEST_CASE("exact_search skips filtered rows and returns fewer hits when few are allowed") {
  auto data = uniform_vectors(40, 4, 3);
  auto queries = uniform_vectors(3, 4, 4);
  MultipleOfFive filter;
  auto found = exact_search(data, queries, 10, Metric::L2, 1, &filter);
  for (const auto& hits : found) {
    CHECK(hits.size() == 8);
    for (const auto& hit : hits) CHECK(hit.id % 5 == 0);
  }
  CHECK_THROWS_AS(exact_search(data, uniform_vectors(1, 5, 1), 1, Metric::L2), InvalidArgument);
  CHECK_THROWS_AS(exact_search(data, queries, 0, Metric::L2), InvalidArgument);
}
