#include "bench/faiss_system.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/HNSW.h>
#include <omp.h>

#include "bench/parallel_for.h"

namespace quiver::bench {
namespace {

using faiss_id = faiss::Index::idx_t;
static_assert(std::is_same_v<faiss_id, std::int64_t>, "FAISS writes labels straight into the id buffer");

// The storage's own distance, counted; negated for the inner product, as IndexHNSW
// does, because HNSW keeps the smallest values.
class CountingComputer final : public faiss::DistanceComputer {
 public:
  explicit CountingComputer(const faiss::Index& storage)
      : inner_(storage.get_distance_computer()), sign_(storage.metric_type == faiss::METRIC_L2 ? 1.0f : -1.0f) {}

  void set_query(const float* x) override { inner_->set_query(x); }
  float operator()(faiss_id i) override {
    ++count;
    return sign_ * (*inner_)(i);
  }
  float symmetric_dis(faiss_id i, faiss_id j) override { return sign_ * inner_->symmetric_dis(i, j); }

  std::uint64_t count = 0;

 private:
  std::unique_ptr<faiss::DistanceComputer> inner_;
  float sign_;
};

class FaissSystem final : public System {
 public:
  FaissSystem(std::size_t M, std::size_t ef_construction) : M_(M), ef_construction_(ef_construction) {}

  std::string name() const override { return "faiss"; }
  std::string config() const override { return "HNSW" + std::to_string(M_) + ",Flat"; }
  std::string search_parameter() const override { return "efSearch"; }

  void build(const Workload& workload, std::size_t threads) override {
    const faiss::MetricType metric =
        workload.metric == Metric::L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    index_ = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(workload.base.cols), static_cast<int>(M_),
                                                    metric);
    index_->hnsw.efConstruction = static_cast<int>(ef_construction_);
    use_threads(threads);
    index_->add(static_cast<faiss_id>(workload.base.rows), workload.base.data);
  }

  // FAISS parallelises every search() call with OpenMP; one thread keeps a
  // single-query call from paying for a parallel region it cannot use.
  void search(std::span<const float> query, std::size_t k, std::size_t ef, std::span<std::int64_t> ids) override {
    use_threads(1);
    run(query.data(), 1, k, ef, ids);
  }

  void search_batch(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads,
                    std::span<std::int64_t> ids) override {
    use_threads(threads);
    run(queries.data, queries.rows, k, ef, ids);
  }

  // IndexHNSW::search in 1.7.3 never updates faiss::hnsw_stats, and HNSW::search's
  // own ndis leaves out the upper-level greedy descent; so the counting pass replays
  // the per-query search of IndexHNSW::search through a distance computer that counts.
  double distances_per_query(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads) override {
    index_->hnsw.efSearch = static_cast<int>(ef);
    // One contiguous share of the queries per thread, each with its own computer and
    // visited table, as IndexHNSW::search gives each OpenMP thread.
    std::vector<std::uint64_t> counts(threads, 0);
    const std::size_t share = (queries.rows + threads - 1) / threads;
    parallel_for(threads, threads, [&](std::size_t t) {
      CountingComputer counting(*index_->storage);
      faiss::VisitedTable visited(index_->ntotal);
      std::vector<faiss_id> labels(k);
      std::vector<float> distances(k);
      for (std::size_t q = t * share; q < std::min(queries.rows, (t + 1) * share); ++q) {
        counting.set_query(queries.row(q).data());
        index_->hnsw.search(counting, static_cast<int>(k), labels.data(), distances.data(), visited);
      }
      counts[t] = counting.count;
    });
    std::uint64_t total = 0;
    for (const std::uint64_t c : counts) total += c;
    return static_cast<double>(total) / static_cast<double>(queries.rows);
  }

  // Flat codes (the vectors) plus the graph: neighbour table, per-node offsets, levels.
  std::size_t memory_bytes() const override {
    const auto& storage = dynamic_cast<const faiss::IndexFlatCodes&>(*index_->storage);
    const faiss::HNSW& graph = index_->hnsw;
    return storage.codes.size() + graph.neighbors.size() * sizeof(faiss::HNSW::storage_idx_t) +
           graph.offsets.size() * sizeof(std::size_t) + graph.levels.size() * sizeof(int);
  }

 private:
  static void use_threads(std::size_t threads) { omp_set_num_threads(static_cast<int>(threads)); }

  // efSearch is set on the index: 1.7.3 reads SearchParametersHNSW::efSearch in only
  // part of the search, and recall stayed flat from efSearch 16 to 512 when it was
  // passed that way.
  void run(const float* queries, std::size_t n, std::size_t k, std::size_t ef, std::span<std::int64_t> ids) {
    index_->hnsw.efSearch = static_cast<int>(ef);
    distances_.resize(n * k);
    index_->search(static_cast<faiss_id>(n), queries, static_cast<faiss_id>(k), distances_.data(), ids.data());
  }

  std::size_t M_;
  std::size_t ef_construction_;
  std::unique_ptr<faiss::IndexHNSWFlat> index_;
  std::vector<float> distances_;  // FAISS insists on writing them; reused across calls
};

}  // namespace

std::unique_ptr<System> make_faiss_system(std::size_t M, std::size_t ef_construction) {
  return std::make_unique<FaissSystem>(M, ef_construction);
}

}  // namespace quiver::bench
