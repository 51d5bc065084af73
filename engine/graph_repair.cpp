#include "engine/graph_repair.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/parallel_for.h"
#include "engine/visited_pool.h"

namespace quiver::engine {

namespace {

using Node = hnswlib::tableint;
constexpr int max_rounds = 4;
// Hosts with a free slot scored per node the rounds left unreachable (see link_from_free_slots).
constexpr std::size_t kFreeHostsTried = 4096;
// Cut-off nodes whose hosts are searched together, in parallel, before any of them is
// linked. Fixed rather than per thread, so that the repaired graph does not depend on the
// thread count.
constexpr std::size_t kHostBatch = 1024;
// A cut-off node hangs under a tree anchored at one of its this many nearest hosts, if any
// anchors one, and under the nearest of that tree's first kTreeChoices open nodes.
constexpr std::size_t kTreeAnchors = 8;
constexpr std::size_t kTreeChoices = 4;

float distance(const Graph& graph, Node a, Node b) {
  return graph.fstdistfunc_(graph.getDataByInternalId(a), graph.getDataByInternalId(b), graph.dist_func_param_);
}

std::pair<const Node*, std::size_t> level0(const Graph& graph, Node node) {
  const auto* list = graph.get_linklist0(node);
  return {reinterpret_cast<const Node*>(list + 1), detail::neighbour_count(list)};
}

struct HostLink {
  bool linked = false;
  std::optional<Node> dropped;  // the neighbour the new link replaced
};

// Adds host -> node: into a free slot, else in place of the host's farthest neighbour
// that `droppable` accepts (checked farthest first, as it may be costly).
template <typename Droppable>
HostLink link_host(Graph& graph, Node host, Node node, const Droppable& droppable) {
  auto* list = graph.get_linklist0(host);
  auto* entries = reinterpret_cast<Node*>(list + 1);
  const std::size_t count = detail::neighbour_count(list);
  if (count < graph.maxM0_) {
    entries[count] = node;
    graph.setListCount(list, static_cast<unsigned short>(count + 1));
    return {true, std::nullopt};
  }
  std::vector<std::pair<float, std::size_t>> by_distance;
  by_distance.reserve(count);
  for (std::size_t i = 0; i < count; ++i) by_distance.emplace_back(distance(graph, host, entries[i]), i);
  std::sort(by_distance.rbegin(), by_distance.rend());
  for (const auto& [unused, i] : by_distance) {
    if (droppable(entries[i])) {
      HostLink result{true, entries[i]};
      entries[i] = node;
      return result;
    }
  }
  return {};
}

bool links_to(const Graph& graph, Node from, Node to) {
  auto [entries, count] = level0(graph, from);
  return std::find(entries, entries + count, to) != entries + count;
}

class Repair {
 public:
  Repair(Graph& graph, CutOffNodes cut_off) : graph_(graph), elements_(graph.cur_element_count), cut_off_(cut_off) {}

  // One round: walks from the entry point, then links in each live node left out. The
  // host searches of a batch run on `threads` threads against the graph as it stands; the
  // links are then made one at a time, skipping nodes an earlier link brought in.
  // Returns how many live nodes the walk had missed.
  std::size_t round(GraphRepair& totals, std::size_t threads) {
    reached_.assign(elements_, false);
    count_in_degrees();
    walk_from(static_cast<Node>(graph_.enterpoint_node_));
    std::vector<Node> missed;
    for (Node node = 0; node < elements_; ++node) {
      if (!reached_[node] && !graph_.isMarkedDeleted(node)) missed.push_back(node);
    }
    std::vector<Node> batch;
    std::vector<std::vector<std::pair<float, Node>>> hosts;
    for (std::size_t begin = 0; begin < missed.size(); begin += kHostBatch) {
      batch.clear();
      for (std::size_t i = begin; i < std::min(missed.size(), begin + kHostBatch); ++i) {
        if (!reached_[missed[i]]) batch.push_back(missed[i]);
      }
      hosts.assign(batch.size(), {});
      parallel_for(
          batch.size(), threads, [&](std::size_t i, std::size_t) { hosts[i] = hosts_for(batch[i]); }, 4);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (reached_[batch[i]] || !link_in(batch[i], hosts[i])) continue;
        ++totals.relinked;
        walk_from(batch[i]);
      }
    }
    return missed.size();
  }

  // Live nodes a fresh walk from the entry point does not reach.
  std::size_t unreached() {
    reached_.assign(elements_, false);
    walk_from(static_cast<Node>(graph_.enterpoint_node_));
    return count_unreached();
  }

  // The last resort once rounds stop gaining: each live node still missed gets an in-link
  // from a reached node with a free slot anywhere in the graph, the nearest of a bounded
  // sample of them. The rounds find no host where every near host's list is full of sole
  // in-links (a few hub keys that top every inner-product query). Returns how many live
  // nodes stay missed.
  std::size_t link_from_free_slots(GraphRepair& totals) {
    std::size_t missed = unreached();
    for (Node node = 0; node < elements_ && missed != 0; ++node) {
      if (reached_[node] || graph_.isMarkedDeleted(node)) continue;
      // The nearest of at most kFreeHostsTried candidates, taken from a node-dependent
      // start, so that a million-node graph with thousands left costs seconds, not hours.
      std::optional<std::pair<float, Node>> best;
      std::size_t tried = 0;
      for (std::size_t step = 0; step < elements_ && tried < kFreeHostsTried; ++step) {
        const auto host = static_cast<Node>((std::size_t{node} * 2654435761u + step) % elements_);
        if (!reached_[host] || level0(graph_, host).second >= graph_.maxM0_) continue;
        ++tried;
        const float d = distance(graph_, node, host);
        if (!best || d < best->first) best = std::pair{d, host};
      }
      if (!best || !link(best->second, node)) continue;
      ++totals.relinked;
      missed -= walk_from(node);
    }
    return missed;
  }

 private:
  std::size_t count_unreached() const {
    std::size_t count = 0;
    for (Node node = 0; node < elements_; ++node) count += !reached_[node] && !graph_.isMarkedDeleted(node);
    return count;
  }

  void count_in_degrees() {
    in_degree_.assign(elements_, 0);
    for (Node node = 0; node < elements_; ++node) {
      auto [entries, count] = level0(graph_, node);
      for (std::size_t i = 0; i < count; ++i) ++in_degree_[entries[i]];
    }
  }

  // Marks what `start` leads to as reached; returns how many live nodes it newly reached.
  std::size_t walk_from(Node start) {
    if (reached_[start]) return 0;
    std::vector<Node> stack{start};
    reached_[start] = true;
    std::size_t live = 0;
    while (!stack.empty()) {
      Node node = stack.back();
      stack.pop_back();
      live += !graph_.isMarkedDeleted(node);
      auto [entries, count] = level0(graph_, node);
      for (std::size_t i = 0; i < count; ++i) {
        if (!reached_[entries[i]]) {
          reached_[entries[i]] = true;
          stack.push_back(entries[i]);
        }
      }
    }
    return live;
  }

  // Reached nodes near `node`, nearest first: its out-neighbours and theirs, and the
  // result of a greedy search for it from the entry point. A tree's anchor need not be
  // the nearest host, so for trees the search, which costs far more than the rest of the
  // repair, runs only where none of the others is reached. Reads the graph only.
  std::vector<std::pair<float, Node>> hosts_for(Node node) const {
    std::vector<Node> near;
    auto [entries, count] = level0(graph_, node);
    for (std::size_t i = 0; i < count; ++i) {
      near.push_back(entries[i]);
      auto [second, second_count] = level0(graph_, entries[i]);
      near.insert(near.end(), second, second + second_count);
    }
    if (cut_off_ == CutOffNodes::linked_from_nearest_host ||
        std::none_of(near.begin(), near.end(), [&](Node host) { return host != node && reached_[host]; })) {
      auto found = search(node);
      near.insert(near.end(), found.begin(), found.end());
    }
    std::sort(near.begin(), near.end());
    near.erase(std::unique(near.begin(), near.end()), near.end());
    std::vector<std::pair<float, Node>> hosts;
    for (Node host : near) {
      if (host != node && reached_[host]) hosts.emplace_back(distance(graph_, node, host), host);
    }
    std::sort(hosts.begin(), hosts.end());
    return hosts;
  }

  // hnswlib's search: greedy descent through the upper levels, then a best-first walk
  // of level 0 keeping the `ef` nearest nodes.
  std::vector<Node> search(Node target) const {
    auto current = static_cast<Node>(graph_.enterpoint_node_);
    float current_distance = distance(graph_, target, current);
    for (int level = graph_.maxlevel_; level > 0; --level) {
      for (bool moved = true; moved;) {
        moved = false;
        const auto* list = graph_.get_linklist(current, level);
        const auto* entries = reinterpret_cast<const Node*>(list + 1);
        for (std::size_t i = 0; i < detail::neighbour_count(list); ++i) {
          float d = distance(graph_, target, entries[i]);
          if (d < current_distance) {
            current_distance = d;
            current = entries[i];
            moved = true;
          }
        }
      }
    }
    const std::size_t ef = std::max<std::size_t>(64, graph_.maxM0_);
    auto seen = visited_.acquire(elements_);
    using Entry = std::pair<float, Node>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> frontier;
    std::priority_queue<Entry> best;
    frontier.emplace(current_distance, current);
    best.emplace(current_distance, current);
    seen.visit(current);
    while (!frontier.empty()) {
      auto [d, node] = frontier.top();
      if (d > best.top().first && best.size() >= ef) break;
      frontier.pop();
      auto [entries, count] = level0(graph_, node);
      for (std::size_t i = 0; i < count; ++i) {
        Node next = entries[i];
        if (!seen.visit(next)) continue;
        float next_distance = distance(graph_, target, next);
        if (best.size() < ef || next_distance < best.top().first) {
          frontier.emplace(next_distance, next);
          best.emplace(next_distance, next);
          if (best.size() > ef) best.pop();
        }
      }
    }
    std::vector<Node> nodes;
    for (; !best.empty(); best.pop()) nodes.push_back(best.top().second);
    return nodes;
  }

  // Links `node` from one of `hosts` (hosts_for's list), a host with a free slot first,
  // nearest first, as replacing a link reroutes the walks through a host, and full lists
  // are the well-travelled hubs'. With trees, where one of the nearest hosts anchors a
  // tree, the node joins that tree instead; otherwise it anchors one at its host.
  bool link_in(Node node, const std::vector<std::pair<float, Node>>& hosts) {
    if (cut_off_ == CutOffNodes::hung_in_trees) {
      for (std::size_t i = 0; i < std::min(kTreeAnchors, hosts.size()); ++i) {
        auto tree = trees_.find(hosts[i].second);
        if (tree != trees_.end() && hang(node, tree->second)) return true;
      }
    }
    auto anchor_at = [&](Node host) {
      if (!link(host, node)) return false;
      if (cut_off_ == CutOffNodes::hung_in_trees) trees_[host].push_back(node);
      return true;
    };
    for (const auto& [unused, host] : hosts) {
      if (level0(graph_, host).second < graph_.maxM0_ && anchor_at(host)) return true;
    }
    for (const auto& [unused, host] : hosts) {
      if (anchor_at(host)) return true;
    }
    return false;
  }

  // Links `node` from the nearest of the first open nodes of `tree` (nodes linked in under
  // one anchor, oldest first, so the tree fills level by level) and adds it to the tree.
  // Nodes whose lists are full leave the tree.
  bool hang(Node node, std::deque<Node>& tree) {
    std::optional<std::pair<float, Node>> best;
    for (std::size_t i = 0; i < tree.size() && i < kTreeChoices;) {
      const Node open = tree[i];
      if (level0(graph_, open).second >= graph_.maxM0_) {
        tree.erase(tree.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      if (open != node && reached_[open] && !links_to(graph_, open, node)) {
        const float d = distance(graph_, node, open);
        if (!best || d < best->first) best = std::pair{d, open};
      }
      ++i;
    }
    if (!best || !link(best->second, node)) return false;
    tree.push_back(node);
    return true;
  }

  // Adds host -> node, dropping at most a neighbour with another in-link.
  bool link(Node host, Node node) {
    if (links_to(graph_, host, node)) return false;
    auto result = link_host(graph_, host, node, [&](Node neighbour) { return in_degree_[neighbour] >= 2; });
    if (!result.linked) return false;
    if (result.dropped) --in_degree_[*result.dropped];
    ++in_degree_[node];
    return true;
  }

  Graph& graph_;
  const std::size_t elements_;
  const CutOffNodes cut_off_;
  std::vector<bool> reached_;
  std::vector<std::uint32_t> in_degree_;
  std::unordered_map<Node, std::deque<Node>> trees_;  // anchor -> nodes hung under it that may take links
  mutable VisitedPool visited_;  // for the host searches, which run in parallel
};

// Whether some out-neighbour of `node` other than `except` links back to it.
bool linked_back_without(const Graph& graph, Node node, Node except) {
  auto [entries, count] = level0(graph, node);
  for (std::size_t i = 0; i < count; ++i) {
    if (entries[i] != except && links_to(graph, entries[i], node)) return true;
  }
  return false;
}

}  // namespace

std::size_t link_new_nodes(Graph& graph, hnswlib::tableint first, hnswlib::tableint last) {
  std::size_t linked = 0;
  for (Node node = first; node < last; ++node) {
    if (graph.isMarkedDeleted(node) || node == static_cast<Node>(graph.enterpoint_node_)) continue;
    auto [entries, count] = level0(graph, node);
    bool reached = false;
    for (std::size_t i = 0; i < count && !reached; ++i) reached = links_to(graph, entries[i], node);
    if (reached) continue;
    std::vector<std::pair<float, Node>> hosts;
    for (std::size_t i = 0; i < count; ++i) hosts.emplace_back(distance(graph, node, entries[i]), entries[i]);
    std::sort(hosts.begin(), hosts.end());
    for (const auto& candidate : hosts) {
      const Node host = candidate.second;  // a named copy: lambdas cannot capture structured bindings in clang 14
      if (link_host(graph, host, node, [&](Node neighbour) { return linked_back_without(graph, neighbour, host); })
              .linked) {
        ++linked;
        break;
      }
    }
  }
  return linked;
}

GraphRepair reconnect(Graph& graph, std::size_t threads, CutOffNodes cut_off) {
  GraphRepair totals;
  if (graph.cur_element_count < 2) return totals;
  Repair repair(graph, cut_off);
  for (int round = 0; round < max_rounds; ++round) {
    std::size_t missed = repair.round(totals, threads);
    if (round == 0) totals.unreachable = missed;
    if (missed == 0) return totals;
  }
  totals.left = repair.link_from_free_slots(totals);
  return totals;
}

}  // namespace quiver::engine
