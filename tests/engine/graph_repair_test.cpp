#include "engine/graph_repair.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "quiver/index.h"
#include "tests/support/synthetic.h"

using namespace quiver;
using quiver::engine::Graph;
using quiver::testing::clustered_vectors;
using quiver::testing::id_range;

namespace {

constexpr std::size_t dim = 32;

// Live nodes that a walk of level 0 from the entry point does not reach.
std::size_t unreachable(Graph& graph) {
  std::vector<bool> reached(graph.cur_element_count, false);
  std::vector<hnswlib::tableint> stack{static_cast<hnswlib::tableint>(graph.enterpoint_node_)};
  reached[stack.back()] = true;
  while (!stack.empty()) {
    auto* list = graph.get_linklist0(stack.back());
    stack.pop_back();
    auto count = graph.getListCount(list);
    REQUIRE(count <= graph.maxM0_);
    auto* entries = reinterpret_cast<hnswlib::tableint*>(list + 1);
    for (std::size_t i = 0; i < count; ++i) {
      REQUIRE(entries[i] < graph.cur_element_count);
      if (!reached[entries[i]]) {
        reached[entries[i]] = true;
        stack.push_back(entries[i]);
      }
    }
  }
  std::size_t count = 0;
  for (hnswlib::tableint node = 0; node < graph.cur_element_count; ++node) {
    count += !reached[node] && !graph.isMarkedDeleted(node);
  }
  return count;
}

}  // namespace

TEST_CASE("reconnect makes every live node of an hnswlib graph reachable at level 0") {
  // At 32 dims with M = 4, hnswlib's neighbour pruning cuts off several percent of the
  // nodes: no search can reach them.
  constexpr std::size_t rows = 4000;
  auto data = clustered_vectors(rows, dim, 7, 4);
  hnswlib::L2Space space(dim);
  Graph graph(&space, rows, 4, 16, 3);
  for (std::size_t i = 0; i < rows; ++i) graph.addPoint(data.row(i).data(), i);
  for (hnswlib::labeltype tombstone = 0; tombstone < rows; tombstone += 97) graph.markDelete(tombstone);
  const std::size_t before = unreachable(graph);
  REQUIRE(before > 50);

  auto repair = engine::reconnect(graph, 2);
  CHECK(repair.unreachable == before);
  CHECK(repair.relinked >= before / 2);  // one link can bring in a whole cut-off group
  CHECK(repair.left == 0);
  CHECK(unreachable(graph) == 0);
  CHECK(engine::reconnect(graph, 2).unreachable == 0);
}

TEST_CASE("reconnect hangs cut-off nodes off each other, not off the hubs the walks use") {
  // A learned attention graph where a few heavy-norm hub keys top every inner product:
  // every other key lists the hubs, and nothing links to it. Linking each cut-off key
  // from its nearest reached host would fill the hubs' lists, which every query's walk
  // reads, with keys no query needs.
  constexpr std::size_t hubs = 10;
  constexpr std::size_t rows = 2000;
  constexpr std::size_t small_dim = 8;
  auto data = clustered_vectors(rows, small_dim, 13, 4);
  for (std::size_t hub = 0; hub < hubs; ++hub) {
    for (auto& x : data.row(hub)) x *= 10.0f;
  }
  hnswlib::InnerProductSpace space(small_dim);
  Graph graph(&space, rows, 8, 16, 3);
  for (std::size_t i = 0; i < rows; ++i) graph.addPoint(data.row(i).data(), i);
  auto set_list = [&](hnswlib::tableint node, const std::vector<hnswlib::tableint>& neighbours) {
    auto* list = graph.get_linklist0(node);
    graph.setListCount(list, static_cast<unsigned short>(neighbours.size()));
    std::copy(neighbours.begin(), neighbours.end(), reinterpret_cast<hnswlib::tableint*>(list + 1));
  };
  std::vector<hnswlib::tableint> all_hubs;
  for (hnswlib::tableint hub = 0; hub < hubs; ++hub) all_hubs.push_back(hub);
  for (hnswlib::tableint node = 0; node < rows; ++node) {
    if (node < hubs) {
      set_list(node, {static_cast<hnswlib::tableint>((node + 1) % hubs)});  // a ring: the hubs reach each other
    } else {
      set_list(node, all_hubs);
    }
  }
  graph.maxlevel_ = 0;
  graph.enterpoint_node_ = 0;
  REQUIRE(unreachable(graph) == rows - hubs);

  auto repair = engine::reconnect(graph, 2, engine::CutOffNodes::hung_in_trees);
  CHECK(repair.left == 0);
  CHECK(unreachable(graph) == 0);
  std::size_t links_added_to_hubs = 0;
  for (hnswlib::tableint hub = 0; hub < hubs; ++hub) links_added_to_hubs += graph.getListCount(graph.get_linklist0(hub)) - 1;
  CHECK(links_added_to_hubs <= hubs);  // each hub anchors at most one tree; their free slots could take 150
}

TEST_CASE("reconnect leaves the same graph whatever the number of threads") {
  // The host searches run in parallel but the links are made in a fixed order.
  constexpr std::size_t rows = 3000;
  auto data = clustered_vectors(rows, dim, 12, 4);
  hnswlib::L2Space space(dim);
  auto repaired = [&](std::size_t threads) {
    auto graph = std::make_unique<Graph>(&space, rows, 4, 16, 3);
    for (std::size_t i = 0; i < rows; ++i) graph->addPoint(data.row(i).data(), i);
    REQUIRE(engine::reconnect(*graph, threads).relinked > 0);
    std::vector<std::vector<hnswlib::tableint>> lists;
    for (hnswlib::tableint node = 0; node < rows; ++node) {
      auto* list = graph->get_linklist0(node);
      auto* entries = reinterpret_cast<hnswlib::tableint*>(list + 1);
      lists.emplace_back(entries, entries + graph->getListCount(list));
    }
    return lists;
  };
  CHECK(repaired(1) == repaired(3));
}

TEST_CASE("link_new_nodes gives each freshly inserted node an in-link") {
  constexpr std::size_t rows = 3000;
  constexpr std::size_t fresh = 1000;
  auto data = clustered_vectors(rows + fresh, dim, 11, 4);
  hnswlib::L2Space space(dim);
  Graph graph(&space, rows + fresh, 4, 16, 5);
  for (std::size_t i = 0; i < rows; ++i) graph.addPoint(data.row(i).data(), i);
  std::size_t linked = 0;
  std::size_t without_in_link = 0;
  for (std::size_t i = rows; i < rows + fresh; ++i) {
    graph.addPoint(data.row(i).data(), i);
    auto node = static_cast<hnswlib::tableint>(i);
    linked += engine::link_new_nodes(graph, node, node + 1);
    bool in_linked = false;
    for (hnswlib::tableint other = 0; other <= node && !in_linked; ++other) {
      auto* list = graph.get_linklist0(other);
      auto* entries = reinterpret_cast<hnswlib::tableint*>(list + 1);
      in_linked = std::find(entries, entries + graph.getListCount(list), node) != entries + graph.getListCount(list);
    }
    without_in_link += !in_linked;
  }
  CHECK(linked > 10);  // hnswlib alone leaves that many new nodes without an in-link here
  CHECK(without_in_link == 0);
}

TEST_CASE("a search with ef = size finds every vector an Index holds, also with a small M") {
  // ef at least the node count makes the best-first walk exhaust what it can reach,
  // so a miss here is a node cut off from the graph.
  constexpr std::size_t rows = 2000;
  auto data = clustered_vectors(rows, dim, 8, 4);
  auto index = Index::build(IndexSpec::parse("hnsw4,efc16", Metric::L2, dim), data);
  // A second batch, then replacements: both go through the repair too.
  auto more = clustered_vectors(rows / 2, dim, 9, 4);
  index.add(id_range(rows, rows / 2), more);
  auto replacements = clustered_vectors(rows / 4, dim, 10, 4);
  index.add(id_range(0, rows / 4), replacements);
  std::size_t missed = 0;
  for (std::uint64_t id = 0; id < rows + rows / 2; ++id) {
    auto vector = id < rows / 4 ? replacements.row(id) : id < rows ? data.row(id) : more.row(id - rows);
    auto hits = index.search(vector, {.k = 1, .ef = rows + rows / 2});
    if (hits.empty() || hits.front().id != id) ++missed;
  }
  CHECK(missed == 0);
}
