#include "bench/hnswlib_system.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <hnswlib/hnswlib.h>

#include "bench/parallel_for.h"

namespace quiver::bench {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// hnswlib 0.6.2's own counter (metric_distance_computations) adds the length of every
// expanded neighbour list, visited neighbours included, so it overstates the work.
// For an exact count the index's distance function is swapped, for an untimed pass
// only, for one that counts its calls; hnswlib hands `param` to every call, which
// carries the counter without global state.
class CountingDistance {
 public:
  explicit CountingDistance(Graph& graph)
      : graph_(graph), function_(graph.fstdistfunc_), parameter_(graph.dist_func_param_) {
    graph_.fstdistfunc_ = &CountingDistance::call;
    graph_.dist_func_param_ = this;
  }
  ~CountingDistance() {
    graph_.fstdistfunc_ = function_;
    graph_.dist_func_param_ = parameter_;
  }
  CountingDistance(const CountingDistance&) = delete;
  CountingDistance& operator=(const CountingDistance&) = delete;

  std::uint64_t count() const { return count_.load(); }

 private:
  static float call(const void* a, const void* b, const void* self) {
    const auto& counting = *static_cast<const CountingDistance*>(self);
    counting.count_.fetch_add(1, std::memory_order_relaxed);
    return counting.function_(a, b, counting.parameter_);
  }

  Graph& graph_;
  hnswlib::DISTFUNC<float> function_;
  void* parameter_;
  mutable std::atomic<std::uint64_t> count_{0};
};

class HnswlibSystem final : public System {
 public:
  HnswlibSystem(std::size_t M, std::size_t ef_construction) : M_(M), ef_construction_(ef_construction) {}

  std::string name() const override { return "hnswlib"; }
  // Not "M" + to_string(): GCC 12 misreports -Wrestrict on that under -march=native.
  std::string config() const override { return std::string("M").append(std::to_string(M_)); }
  std::string search_parameter() const override { return "ef"; }

  void build(const Workload& workload, std::size_t threads) override {
    const std::size_t dim = workload.base.cols;
    if (workload.metric == Metric::L2) {
      space_ = std::make_unique<hnswlib::L2Space>(dim);
    } else {
      space_ = std::make_unique<hnswlib::InnerProductSpace>(dim);
    }
    graph_ = std::make_unique<Graph>(space_.get(), workload.base.rows, M_, ef_construction_);
    // As hnswlib's own Python binding does: the first point alone (it becomes the entry
    // point), then the rest in parallel.
    graph_->addPoint(workload.base.row(0).data(), 0);
    parallel_for(workload.base.rows - 1, threads, [&](std::size_t i) {
      graph_->addPoint(workload.base.row(i + 1).data(), i + 1);
    });
  }

  void search(std::span<const float> query, std::size_t k, std::size_t ef, std::span<std::int64_t> ids) override {
    graph_->setEf(ef);
    search_one(query, k, ids);
  }

  void search_batch(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads,
                    std::span<std::int64_t> ids) override {
    graph_->setEf(ef);
    parallel_for(queries.rows, threads, [&](std::size_t q) { search_one(queries.row(q), k, ids.subspan(q * k, k)); });
  }

  double distances_per_query(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads) override {
    std::vector<std::int64_t> ids(queries.rows * k);
    const CountingDistance counting(*graph_);
    search_batch(queries, k, ef, threads, ids);
    return static_cast<double>(counting.count()) / static_cast<double>(queries.rows);
  }

  // Level-0 block (vectors, links, labels) for the capacity, plus upper-level link
  // lists and the level array; hnswlib's per-node mutexes and label map are left out,
  // as FAISS's and quiver's bookkeeping is.
  std::size_t memory_bytes() const override {
    std::size_t bytes = graph_->max_elements_ * graph_->size_data_per_element_;
    for (const int level : graph_->element_levels_) {
      bytes += static_cast<std::size_t>(level) * graph_->size_links_per_element_;
    }
    return bytes + graph_->element_levels_.size() * sizeof(int);
  }

 private:
  void search_one(std::span<const float> query, std::size_t k, std::span<std::int64_t> ids) const {
    auto result = graph_->searchKnn(query.data(), k);  // a max-heap: the farthest hit on top
    std::fill(ids.begin() + static_cast<std::ptrdiff_t>(result.size()), ids.end(), -1);
    for (std::size_t j = result.size(); j-- > 0; result.pop()) {
      ids[j] = static_cast<std::int64_t>(result.top().second);
    }
  }

  std::size_t M_;
  std::size_t ef_construction_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;  // outlives graph_, which points to it
  std::unique_ptr<Graph> graph_;
};

}  // namespace

std::unique_ptr<System> make_hnswlib_system(std::size_t M, std::size_t ef_construction) {
  return std::make_unique<HnswlibSystem>(M, ef_construction);
}

}  // namespace quiver::bench
