// quiver's own best-first search over an hnswlib graph. hnswlib builds and stores the
// graph; this walks its adjacency lists so that filters, tombstones, cancellation and
// (later) compressed distances run inside the walk, which hnswlib's searchKnn cannot.
// The distance is a template parameter: no virtual call per distance.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <vector>

#include "engine/hnswlib_include.h"
#include "engine/visited_pool.h"
#include "quiver/search_params.h"

namespace quiver::engine {

using Graph = hnswlib::HierarchicalNSW<float>;

struct Candidate {
  float distance;
  std::uint32_t id;  // internal id (hnswlib's tableint)
};

// A distance that can also score many stored codes in one call (a neighbour list):
// out[i] equals distance(stored[i]) exactly, only computed together.
template <typename Distance>
concept BatchDistance = requires(const Distance& distance, const char* const* stored, std::size_t count, float* out) {
  distance.score_batch(stored, count, out);
};

namespace detail {

inline void prefetch_lines(const char* address, std::size_t lines) {
  for (std::size_t i = 0; i < lines; ++i) __builtin_prefetch(address + 64 * i, 0, 3);
}

// hnswlib keeps a list's length in the low 16 bits of its first word.
inline std::size_t neighbour_count(const hnswlib::linklistsizeint* list) {
  return *reinterpret_cast<const unsigned short*>(list);
}

inline bool cancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_relaxed);
}

// Scores the nodes `ids[0 .. count)` (an expanded node's unvisited neighbours) into
// `out`: in one call where the distance scores lists together, else one at a time with
// the next node's vector prefetched. `codes` holds room for count pointers.
template <typename Distance>
void score_neighbours(const Graph& graph, const Distance& distance, const std::uint32_t* ids, std::size_t count,
                      std::size_t vector_lines, std::vector<const char*>& codes, float* out) {
  if constexpr (BatchDistance<Distance>) {
    for (std::size_t j = 0; j < count; ++j) {
      codes[j] = graph.getDataByInternalId(ids[j]);
      prefetch_lines(codes[j], vector_lines);
    }
    distance.score_batch(codes.data(), count, out);
  } else {
    for (std::size_t j = 0; j < count; ++j) prefetch_lines(graph.getDataByInternalId(ids[j]), 1);
    for (std::size_t j = 0; j < count; ++j) {
      if (j + 1 < count) prefetch_lines(graph.getDataByInternalId(ids[j + 1]), vector_lines);
      out[j] = distance(graph.getDataByInternalId(ids[j]));
    }
  }
}

// Cache lines of one stored vector worth prefetching (at most 8).
inline std::size_t vector_lines(const Graph& graph) { return std::min<std::size_t>(8, (graph.data_size_ + 63) / 64); }

// Greedy descent through the upper layers to the base-layer entry point.
template <typename Distance>
Candidate descend(const Graph& graph, const Distance& distance, SearchStats& stats) {
  Candidate best{distance(graph.getDataByInternalId(graph.enterpoint_node_)),
                 static_cast<std::uint32_t>(graph.enterpoint_node_)};
  ++stats.distances;
  for (int level = graph.maxlevel_; level > 0; --level) {
    bool improved = true;
    while (improved) {
      improved = false;
      const auto* list = graph.get_linklist(best.id, level);
      auto count = detail::neighbour_count(list);
      const auto* ids = reinterpret_cast<const std::uint32_t*>(list + 1);
      ++stats.hops;
      for (std::size_t j = 0; j < count; ++j) {
        float d = distance(graph.getDataByInternalId(ids[j]));
        ++stats.distances;
        if (d < best.distance) {
          best = {d, ids[j]};
          improved = true;
        }
      }
    }
  }
  return best;
}

// graph_repair.h keeps every live node reachable at level 0 from the entry point, not
// from wherever the descent ends, so the level-0 walk starts from both: a window as
// large as the graph then finds every node. One distance, usually never expanded.
template <typename Distance>
bool seed_entry_point(const Graph& graph, const Distance& distance, VisitedPool::Lease& visited, SearchStats& stats,
                      Candidate& entry) {
  entry.id = static_cast<std::uint32_t>(graph.enterpoint_node_);
  if (!visited.visit(entry.id)) return false;
  entry.distance = distance(graph.getDataByInternalId(entry.id));
  ++stats.distances;
  return true;
}

}  // namespace detail

// Unfiltered search over a graph without tombstones: the `capacity` closest nodes seen,
// of which the best `window` are expanded best-first until all of them have been (SVS's
// search window and buffer: a buffer larger than the window keeps more candidates for
// re-ranking without widening the walk). The window is a sorted array, which the
// expansion order needs; the rest of the buffer is a heap, so that a large buffer does
// not make every insertion shift thousands of entries. Returns the buffer in ascending
// distance.
template <typename Distance>
std::vector<Candidate> search_unfiltered(const Graph& graph, const Distance& distance, std::size_t window,
                                         std::size_t capacity, const std::atomic<bool>* cancel,
                                         VisitedPool::Lease& visited, SearchStats& stats) {
  struct Entry {
    float distance;
    std::uint32_t id;
    bool expanded;
  };
  const std::size_t ef = std::max<std::size_t>(window, 1);
  std::vector<Entry> buffer(ef + 1);
  std::size_t count = 0;
  const std::size_t vector_lines = detail::vector_lines(graph);
  // The best (capacity - ef) nodes outside the window: a max-heap on distance.
  const std::size_t spare = capacity > ef ? capacity - ef : 0;
  std::vector<Candidate> overflow;
  overflow.reserve(spare);
  auto farther_last = [](const Candidate& a, const Candidate& b) { return a.distance < b.distance; };
  auto keep_spare = [&](float d, std::uint32_t id) {
    if (overflow.size() < spare) {
      overflow.push_back({d, id});
      std::push_heap(overflow.begin(), overflow.end(), farther_last);
    } else if (spare > 0 && d < overflow.front().distance) {
      std::pop_heap(overflow.begin(), overflow.end(), farther_last);
      overflow.back() = {d, id};
      std::push_heap(overflow.begin(), overflow.end(), farther_last);
    }
  };

  Candidate start = detail::descend(graph, distance, stats);
  visited.visit(start.id);
  buffer[count++] = {start.distance, start.id, false};
  if (Candidate entry; detail::seed_entry_point(graph, distance, visited, stats, entry)) {
    buffer[count++] = {entry.distance, entry.id, false};
    if (entry.distance < buffer[0].distance) std::swap(buffer[0], buffer[1]);
    if (count > ef) keep_spare(buffer[ef].distance, buffer[ef].id);
    count = std::min(count, ef);
  }

  std::vector<std::uint32_t> fresh(graph.maxM0_);
  std::vector<const char*> fresh_codes(graph.maxM0_);
  std::vector<float> fresh_distances(graph.maxM0_);
  std::size_t cursor = 0;
  while (cursor < count && !detail::cancelled(cancel)) {
    buffer[cursor].expanded = true;
    const auto* list = graph.get_linklist0(buffer[cursor].id);
    auto degree = detail::neighbour_count(list);
    const auto* ids = reinterpret_cast<const std::uint32_t*>(list + 1);
    ++stats.hops;

    std::size_t n_fresh = 0;
    for (std::size_t j = 0; j < degree; ++j) {
      if (visited.visit(ids[j])) fresh[n_fresh++] = ids[j];
    }
    detail::score_neighbours(graph, distance, fresh.data(), n_fresh, vector_lines, fresh_codes,
                             fresh_distances.data());
    stats.distances += n_fresh;

    std::size_t first_inserted = count;
    for (std::size_t j = 0; j < n_fresh; ++j) {
      const float d = fresh_distances[j];
      if (count == ef && d >= buffer[count - 1].distance) {
        keep_spare(d, fresh[j]);
        continue;
      }
      auto position = static_cast<std::size_t>(
          std::upper_bound(buffer.begin(), buffer.begin() + count, d,
                           [](float value, const Entry& e) { return value < e.distance; }) -
          buffer.begin());
      if (count == ef) keep_spare(buffer[count - 1].distance, buffer[count - 1].id);  // leaves the window
      std::move_backward(buffer.begin() + position, buffer.begin() + count, buffer.begin() + count + 1);
      buffer[position] = {d, fresh[j], false};
      if (count < ef) ++count;
      first_inserted = std::min(first_inserted, position);
    }
    cursor = std::min(first_inserted, cursor + 1);
    while (cursor < count && buffer[cursor].expanded) ++cursor;
  }

  // Every node in the overflow left the window, or was refused by it, when the window's
  // worst was at least as far as its worst is now: the two sorted parts concatenate.
  std::sort_heap(overflow.begin(), overflow.end(), farther_last);
  std::vector<Candidate> result(count + overflow.size());
  for (std::size_t i = 0; i < count; ++i) result[i] = {buffer[i].distance, buffer[i].id};
  std::copy(overflow.begin(), overflow.end(), result.begin() + static_cast<std::ptrdiff_t>(count));
  return result;
}

// Search where some nodes may not be returned (filtered out or tombstoned) but still
// route the walk. As in hnswlib, the walk goes on until `ef` admitted nodes are held
// and no candidate is closer than the worst of them, so a selective filter costs
// more work rather than recall.
template <typename Distance, typename Admit>
std::vector<Candidate> search_filtered(const Graph& graph, const Distance& distance, std::size_t ef,
                                       const Admit& admit, const std::atomic<bool>* cancel,
                                       VisitedPool::Lease& visited, SearchStats& stats) {
  auto farther = [](const Candidate& a, const Candidate& b) { return a.distance > b.distance; };
  auto closer = [](const Candidate& a, const Candidate& b) { return a.distance < b.distance; };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(farther)> frontier(farther);
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(closer)> admitted(closer);
  float bound = std::numeric_limits<float>::infinity();

  Candidate start = detail::descend(graph, distance, stats);
  visited.visit(start.id);
  auto seed = [&](const Candidate& candidate) {
    frontier.push(candidate);
    if (admit(candidate.id)) {
      admitted.push(candidate);
      if (admitted.size() > ef) admitted.pop();
      if (admitted.size() == ef) bound = admitted.top().distance;
    }
  };
  seed(start);
  if (Candidate entry; detail::seed_entry_point(graph, distance, visited, stats, entry)) seed(entry);

  const std::size_t vector_lines = detail::vector_lines(graph);
  std::vector<std::uint32_t> fresh(graph.maxM0_);
  std::vector<const char*> fresh_codes(graph.maxM0_);
  std::vector<float> fresh_distances(graph.maxM0_);
  while (!frontier.empty() && !detail::cancelled(cancel)) {
    Candidate current = frontier.top();
    if (current.distance > bound) break;
    frontier.pop();
    const auto* list = graph.get_linklist0(current.id);
    auto degree = detail::neighbour_count(list);
    const auto* ids = reinterpret_cast<const std::uint32_t*>(list + 1);
    ++stats.hops;
    std::size_t n_fresh = 0;
    for (std::size_t j = 0; j < degree; ++j) {
      if (visited.visit(ids[j])) fresh[n_fresh++] = ids[j];
    }
    detail::score_neighbours(graph, distance, fresh.data(), n_fresh, vector_lines, fresh_codes,
                             fresh_distances.data());
    stats.distances += n_fresh;
    for (std::size_t j = 0; j < n_fresh; ++j) {
      const std::uint32_t id = fresh[j];
      const float d = fresh_distances[j];
      if (d >= bound) continue;
      frontier.push({d, id});
      if (admit(id)) {
        admitted.push({d, id});
        if (admitted.size() > ef) admitted.pop();
        if (admitted.size() == ef) bound = admitted.top().distance;
      }
    }
  }

  std::vector<Candidate> result(admitted.size());
  for (auto i = result.size(); i-- > 0;) {
    result[i] = admitted.top();
    admitted.pop();
  }
  return result;
}

}  // namespace quiver::engine
