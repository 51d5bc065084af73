#include "engine/attention_graph.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <string>

#include "engine/parallel_for.h"
#include "quant/distance.h"
#include "quant/query_sampler.h"
#include "quiver/error.h"
#include "quiver/exact_search.h"

namespace quiver::engine {

namespace {

struct Scored {
  float distance;
  std::uint32_t id;
  bool operator<(const Scored& other) const { return distance < other.distance; }
};

// δ of the paper: squared L2, or the negated inner product (not a metric: δ(x, x) ≠ 0),
// between rows of the data or from a free vector to a row.
class Delta {
 public:
  Delta(MatrixView data, Metric metric) : data_(data), l2_(metric == Metric::L2), kernels_(quant::kernels()) {}
  float to(const float* vector, std::uint32_t row) const {
    const float* x = data_.row(row).data();
    return l2_ ? kernels_.l2_sq(vector, x, data_.cols) : -kernels_.dot(vector, x, data_.cols);
  }
  float between(std::uint32_t a, std::uint32_t b) const { return to(data_.row(a).data(), b); }

 private:
  MatrixView data_;
  bool l2_;
  const quant::DistanceKernels& kernels_;
};

// The occlusion (relative-neighbourhood) rule around `node`: walking candidates from
// nearest, keep c unless an already kept r is closer to c than `node` is. With
// `backfill`, free slots are then filled with the nearest candidates not kept, so
// well-covered nodes keep full lists.
std::vector<std::uint32_t> occlusion_prune(std::vector<Scored> candidates, std::size_t limit, bool backfill,
                                           const Delta& delta) {
  std::sort(candidates.begin(), candidates.end());
  std::vector<std::uint32_t> kept;
  std::vector<bool> taken(candidates.size(), false);
  for (std::size_t i = 0; i < candidates.size() && kept.size() < limit; ++i) {
    const auto& c = candidates[i];
    bool occluded = std::any_of(kept.begin(), kept.end(),
                                [&](std::uint32_t r) { return delta.between(c.id, r) < c.distance; });
    if (!occluded) {
      kept.push_back(c.id);
      taken[i] = true;
    }
  }
  for (std::size_t i = 0; backfill && i < candidates.size() && kept.size() < limit; ++i) {
    if (!taken[i]) kept.push_back(candidates[i].id);
  }
  return kept;
}

// Candidates for `node`: `ids` without `node` or repeats, scored by δ(node, ·).
std::vector<Scored> score_around(std::uint32_t node, std::vector<std::uint32_t> ids, const Delta& delta) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<Scored> scored;
  scored.reserve(ids.size());
  for (auto id : ids) {
    if (id != node) scored.push_back({delta.between(node, id), id});
  }
  return scored;
}

// Best-first search of `graph` from `entry` toward data row `target`, keeping the
// `beam` closest nodes seen; returns them (target excluded).
std::vector<Scored> beam_search(const std::vector<std::vector<std::uint32_t>>& graph, std::uint32_t entry,
                                std::uint32_t target, std::size_t beam, const Delta& delta,
                                std::vector<std::uint32_t>& marks, std::uint32_t epoch) {
  std::vector<Scored> buffer{{delta.between(target, entry), entry}};
  std::vector<bool> expanded{false};
  marks[entry] = epoch;
  marks[target] = epoch;
  for (std::size_t cursor = 0; cursor < buffer.size();) {
    expanded[cursor] = true;
    std::uint32_t node = buffer[cursor].id;
    std::size_t first_inserted = buffer.size();
    for (auto next : graph[node]) {
      if (marks[next] == epoch) continue;
      marks[next] = epoch;
      float d = delta.between(target, next);
      if (buffer.size() == beam && d >= buffer.back().distance) continue;
      auto at = static_cast<std::size_t>(std::upper_bound(buffer.begin(), buffer.end(), Scored{d, next}) - buffer.begin());
      buffer.insert(buffer.begin() + at, {d, next});
      expanded.insert(expanded.begin() + at, false);
      if (buffer.size() > beam) {
        buffer.pop_back();
        expanded.pop_back();
      }
      first_inserted = std::min(first_inserted, at);
    }
    cursor = std::min(cursor + 1, first_inserted);
    while (cursor < buffer.size() && expanded[cursor]) ++cursor;
  }
  return buffer;
}

// Links each sample query's first `depth` hits into a tree: a hit that none of the query's
// better hits lists gets an in-link from the better hit nearest it, if that list is below
// `limit`. Nearest in Euclidean distance even for inner products: under −⟨·,·⟩ every hit's
// nearest would be the largest-norm one, whose list is already full.
void link_hits_in_trees(std::vector<std::vector<std::uint32_t>>& lists, const std::vector<std::vector<Hit>>& truth,
                        MatrixView data, std::size_t depth, std::size_t limit, std::size_t threads) {
  const auto& kernels = quant::kernels();
  std::vector<std::vector<std::uint32_t>> parents(truth.size());  // by rank: the rank of its parent
  parallel_for(truth.size(), threads, [&](std::size_t q, std::size_t) {
    const auto& hits = truth[q];
    auto& parent = parents[q];
    parent.assign(std::min(depth, hits.size()), 0);
    for (std::size_t r = 1; r < parent.size(); ++r) {
      const float* hit = data.row(hits[r].id).data();
      float nearest = std::numeric_limits<float>::infinity();
      for (std::size_t better = 0; better < r; ++better) {
        const float d = kernels.l2_sq(hit, data.row(hits[better].id).data(), data.cols);
        if (d < nearest) {
          nearest = d;
          parent[r] = static_cast<std::uint32_t>(better);
        }
      }
    }
  });
  // In query order, so the graph does not depend on the thread count. `listed` marks the
  // rows that the current query's better hits list.
  std::vector<std::uint32_t> listed(lists.size(), 0);
  std::uint32_t epoch = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    ++epoch;
    const auto& hits = truth[q];
    for (std::size_t r = 0; r < parents[q].size(); ++r) {
      const auto hit = static_cast<std::uint32_t>(hits[r].id);
      auto& parent_list = lists[hits[parents[q][r]].id];
      if (r > 0 && listed[hit] != epoch && parent_list.size() < limit) {
        parent_list.push_back(hit);
        listed[hit] = epoch;
      }
      for (auto next : lists[hit]) listed[next] = epoch;
    }
  }
}

}  // namespace

void check_sample_query_count(std::size_t count) {
  if (count < min_attention_sample_queries) {
    throw InvalidArgument("the attention graph learns from sample queries: got " + std::to_string(count) +
                          ", need at least " + std::to_string(min_attention_sample_queries) +
                          " (a few thousand from the query distribution work well)");
  }
}

AttentionGraph build_attention_graph(MatrixView data, MatrixView queries, Metric metric,
                                     const AttentionGraphParams& params) {
  if (queries.cols != data.cols) {
    throw InvalidArgument("sample queries have " + std::to_string(queries.cols) + " dimensions but the data has " +
                          std::to_string(data.cols));
  }
  check_sample_query_count(queries.rows);
  const std::size_t n = data.rows;
  const std::size_t M = params.degree;
  const std::size_t threads = resolve_threads(params.threads);
  Delta delta(data, metric);
  auto report = [&](std::size_t done) {
    if (params.progress && !params.progress({done, n})) throw Cancelled("attention graph build cancelled");
  };

  AttentionGraph result;
  result.neighbours.resize(n);
  if (n == 1) return result;

  // 0. Too few sample queries leave most rows' neighbourhoods unlearned. Draws from a
  // Gaussian fitted to the queries teach the graph as much as real queries do
  // (bench/RESULTS.md: 20,000 drawn against the 20,000 real attention queries; 300 or
  // 1,000 real ones topped up against the same alone).
  Matrix learning;
  if (queries.rows < params.learning_queries) {
    Matrix drawn = quant::draw_like_queries(queries, params.learning_queries - queries.rows, params.seed, threads);
    learning = Matrix(params.learning_queries, data.cols);
    std::copy_n(queries.data, queries.rows * queries.cols, learning.values.data());
    for (std::size_t i = 0; i < drawn.rows; ++i) {
      auto row = learning.row(queries.rows + i);
      std::copy_n(drawn.row(i).data(), data.cols, row.data());
      if (metric == Metric::Cosine) quant::normalize(row);  // as the metric sees queries
    }
    queries = learning;
  }

  // 1. Exact neighbours of every sample query; 2. the entry point: the row the mean
  // sample query scores best, so walks start where queries tend to go.
  auto truth = exact_search(data, queries, std::min(params.query_neighbours, n), metric, threads);
  Matrix mean_query(1, data.cols);
  for (std::size_t q = 0; q < queries.rows; ++q) {
    for (std::size_t j = 0; j < data.cols; ++j) mean_query.row(0)[j] += queries.row(q)[j] / float(queries.rows);
  }
  result.entry = static_cast<std::uint32_t>(exact_search(data, mean_query, 1, metric, 1)[0][0].id);

  // 3. Projection of the query→data bipartite graph: each query's nearest row (the
  // pivot) links to the query's other neighbours, pruned by occlusion. Its next hits
  // become pivots too unless some query has them as its nearest: when top hits are
  // diverse (real attention) most rows near queries would otherwise get no
  // query-informed list, and when a few hubs top every query (heavy-tailed norms)
  // the hubs' lists are not flooded.
  std::vector<bool> is_nearest(n, false);
  for (const auto& hits : truth) is_nearest[hits.front().id] = true;
  std::vector<std::vector<std::uint32_t>> offered(n);
  for (const auto& hits : truth) {
    for (std::size_t p = 0; p < std::min(params.pivots, hits.size()); ++p) {
      auto pivot = static_cast<std::uint32_t>(hits[p].id);
      if (p > 0 && is_nearest[pivot]) continue;
      for (std::size_t i = 0; i < hits.size(); ++i) {
        if (i != p) offered[pivot].push_back(static_cast<std::uint32_t>(hits[i].id));
      }
    }
  }
  auto& lists = result.neighbours;
  parallel_for(n, threads, [&](std::size_t node, std::size_t) {
    if (offered[node].empty()) return;
    lists[node] = occlusion_prune(score_around(node, std::move(offered[node]), delta), M, true, delta);
  });
  // Reverse edges, so pivots are reachable from their neighbours; over-full lists are re-pruned.
  std::vector<std::vector<std::uint32_t>> reverse(n);
  for (std::size_t node = 0; node < n; ++node) {
    for (auto next : lists[node]) reverse[next].push_back(static_cast<std::uint32_t>(node));
  }
  parallel_for(n, threads, [&](std::size_t node, std::size_t) {
    if (reverse[node].empty()) return;
    auto merged = lists[node];
    merged.insert(merged.end(), reverse[node].begin(), reverse[node].end());
    lists[node] = occlusion_prune(score_around(node, std::move(merged), delta), M, true, delta);
  });
  report(0);

  // 4. Connectivity: search the projected graph for every row and link it to what the
  // search found (and back), so rows no sample query reached stay reachable.
  std::vector<std::vector<std::uint32_t>> extra(n);
  std::vector<std::vector<std::uint32_t>> marks(threads, std::vector<std::uint32_t>(n, 0));
  std::vector<std::uint32_t> epochs(threads, 0);
  std::atomic<std::size_t> done{0};
  std::atomic<bool> stop{false};
  parallel_for(n, threads, [&](std::size_t node, std::size_t worker) {
    if (stop.load(std::memory_order_relaxed)) return;
    auto target = static_cast<std::uint32_t>(node);
    auto found = beam_search(lists, result.entry, target, params.beam, delta, marks[worker], ++epochs[worker]);
    extra[node] = occlusion_prune(std::move(found), M, false, delta);
    std::size_t finished = done.fetch_add(1, std::memory_order_relaxed) + 1;
    if (worker == 0 && finished % 1024 == 0 && params.progress && !params.progress({finished, n})) stop = true;
  });
  if (stop) throw Cancelled("attention graph build cancelled");
  std::vector<std::vector<std::uint32_t>> incoming(n);
  for (std::size_t node = 0; node < n; ++node) {
    for (auto next : extra[node]) incoming[next].push_back(static_cast<std::uint32_t>(node));
  }
  parallel_for(n, threads, [&](std::size_t node, std::size_t) {
    auto merged = lists[node];
    merged.insert(merged.end(), extra[node].begin(), extra[node].end());
    merged.insert(merged.end(), incoming[node].begin(), incoming[node].end());
    auto scored = score_around(node, std::move(merged), delta);
    if (scored.size() > 2 * M) {
      lists[node] = occlusion_prune(std::move(scored), 2 * M, true, delta);
    } else {
      lists[node].clear();
      for (const auto& s : scored) lists[node].push_back(s.id);
    }
  });

  // 5. In-link trees. A walk finds a row only through the rows it expands, which are the
  // query's best; the pruned lists above often do not link a query's lower hits from its
  // better ones (where a few hubs top every query, the hubs' full lists link almost none of
  // the rest). Linking every sample query's first hits that way let walks hold a query's
  // top 100 on the hub-dominated synthetic set (bench/RESULTS.md).
  if (params.in_link_depth > 1) link_hits_in_trees(lists, truth, data, params.in_link_depth, 2 * M, threads);
  report(n);
  return result;
}

}  // namespace quiver::engine
