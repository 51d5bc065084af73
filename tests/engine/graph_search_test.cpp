// quiver's level-0 walk (engine/graph_search.h): the buffer beyond the search window
// keeps exactly the best of the nodes the walk visited, without changing the walk.
#include "engine/graph_search.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "tests/support/synthetic.h"

using namespace quiver;
using quiver::engine::Candidate;
using quiver::engine::Graph;

TEST_CASE("search_unfiltered: a buffer beyond the window holds the best nodes visited, sorted, same walk") {
  constexpr std::size_t dim = 16;
  constexpr std::size_t rows = 3000;
  auto data = testing::clustered_vectors(rows, dim, 13, 8);
  hnswlib::L2Space space(dim);
  Graph graph(&space, rows, 8, 64, 5);
  for (std::size_t i = 0; i < rows; ++i) graph.addPoint(data.row(i).data(), i);
  auto queries = testing::clustered_vectors(20, dim, 14, 8);
  engine::VisitedPool pool;

  for (std::size_t q = 0; q < queries.rows; ++q) {
    const float* query = queries.row(q).data();
    auto distance = [&](const char* stored) {
      float d = 0;
      const auto* x = reinterpret_cast<const float*>(stored);
      for (std::size_t j = 0; j < dim; ++j) d += (x[j] - query[j]) * (x[j] - query[j]);
      return d;
    };
    for (const std::size_t window : {1, 10, 40}) {
      CAPTURE(window);
      SearchStats narrow_stats;
      std::vector<Candidate> narrow;
      {
        auto visited = pool.acquire(graph.max_elements_);
        narrow = engine::search_unfiltered(graph, distance, window, window, nullptr, visited, narrow_stats);
      }
      for (const std::size_t capacity : {window + 1, 4 * window, std::size_t{500}}) {
        CAPTURE(capacity);
        SearchStats stats;
        auto visited = pool.acquire(graph.max_elements_);
        auto found = engine::search_unfiltered(graph, distance, window, capacity, nullptr, visited, stats);
        CHECK(stats.hops == narrow_stats.hops);  // the same walk
        CHECK(stats.distances == narrow_stats.distances);
        // The walk's candidates: what it marked visited at level 0 (the descent's
        // upper-layer distances are not candidates).
        std::vector<float> candidates;
        for (std::uint32_t id = 0; id < rows; ++id) {
          if (!visited.visit(id)) candidates.push_back(distance(graph.getDataByInternalId(id)));
        }
        std::sort(candidates.begin(), candidates.end());
        REQUIRE(found.size() == std::min(capacity, candidates.size()));
        CHECK(std::is_sorted(found.begin(), found.end(),
                             [](const Candidate& a, const Candidate& b) { return a.distance < b.distance; }));
        for (std::size_t i = 0; i < narrow.size(); ++i) CHECK(found[i].id == narrow[i].id);
        std::set<std::uint32_t> ids;
        for (const auto& c : found) ids.insert(c.id);
        CHECK(ids.size() == found.size());
        for (std::size_t i = 0; i < found.size(); ++i) CHECK(found[i].distance == candidates[i]);
      }
    }
  }
}
