#include "bench/faiss_system.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

#include "bench/parallel_for.h"
#include "quiver/error.h"

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
  FaissSystem(std::string factory, std::size_t ef_construction)
      : factory_(std::move(factory)), ef_construction_(ef_construction) {}

  std::string name() const override { return "faiss"; }
  std::string config() const override { return factory_; }
  std::string search_parameter() const override { return ivf_ ? "nprobe" : "efSearch"; }

  void build(const Workload& workload, std::size_t threads) override {
    const faiss::MetricType metric = workload.metric == Metric::L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    try {
      index_.reset(faiss::index_factory(static_cast<int>(workload.base.cols), factory_.c_str(), metric));
    } catch (const faiss::FaissException& error) {
      throw InvalidArgument("FAISS rejects the factory string '" + factory_ + "': " + error.what());
    }
    transform_ = dynamic_cast<faiss::IndexPreTransform*>(index_.get());
    faiss::Index* inner = transform_ ? transform_->index : index_.get();
    hnsw_ = dynamic_cast<faiss::IndexHNSW*>(inner);
    ivf_ = dynamic_cast<faiss::IndexIVF*>(inner);
    if (!hnsw_ && !ivf_) {
      throw InvalidArgument("FAISS peer '" + factory_ + "' is neither an HNSW nor an IVF index: nothing to sweep");
    }
    if (hnsw_) hnsw_->hnsw.efConstruction = static_cast<int>(ef_construction_);
    use_threads(threads);
    const auto n = static_cast<faiss_id>(workload.base.rows);
    if (!index_->is_trained) index_->train(n, workload.base.data);
    index_->add(n, workload.base.data);
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

  double distances_per_query(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads) override {
    set_search_parameter(ef);
    if (ivf_) return ivf_distances_per_query(queries, k, threads);
    // The graph search runs on the transformed queries (PCA etc.), as IndexPreTransform does.
    std::unique_ptr<const float[]> owned;
    const float* transformed = queries.data;
    if (transform_) {
      transformed = transform_->apply_chain(static_cast<faiss_id>(queries.rows), queries.data);
      if (transformed != queries.data) owned.reset(transformed);
    }
    const std::size_t dim = static_cast<std::size_t>(hnsw_->d);
    // IndexHNSW::search in 1.7.3 never updates faiss::hnsw_stats, and HNSW::search's own
    // ndis leaves out the upper-level greedy descent; so this replays the per-query
    // search through a distance computer that counts, one contiguous share of the queries
    // per thread with its own computer and visited table, as IndexHNSW::search does.
    std::vector<std::uint64_t> counts(threads, 0);
    const std::size_t share = (queries.rows + threads - 1) / threads;
    parallel_for(threads, threads, [&](std::size_t t) {
      CountingComputer counting(*hnsw_->storage);
      faiss::VisitedTable visited(hnsw_->ntotal);
      std::vector<faiss_id> labels(k);
      std::vector<float> distances(k);
      for (std::size_t q = t * share; q < std::min(queries.rows, (t + 1) * share); ++q) {
        counting.set_query(transformed + q * dim);
        hnsw_->hnsw.search(counting, static_cast<int>(k), labels.data(), distances.data(), visited);
      }
      counts[t] = counting.count;
    });
    std::uint64_t total = 0;
    for (const std::uint64_t c : counts) total += c;
    return static_cast<double>(total) / static_cast<double>(queries.rows);
  }

  // The serialised index: codes, graph or lists, transforms and codebooks, which is
  // what FAISS holds in memory for them (per-node locks and scratch left out).
  std::size_t memory_bytes() const override {
    faiss::VectorIOWriter writer;
    faiss::write_index(index_.get(), &writer);
    return writer.data.size();
  }

 private:
  static void use_threads(std::size_t threads) { omp_set_num_threads(static_cast<int>(threads)); }

  // Set on the index: 1.7.3 reads SearchParametersHNSW::efSearch in only part of its
  // search, and recall stayed flat from efSearch 16 to 512 when it was passed that way.
  void set_search_parameter(std::size_t value) {
    if (hnsw_) hnsw_->hnsw.efSearch = static_cast<int>(value);
    if (ivf_) ivf_->nprobe = std::min(value, ivf_->nlist);
  }

  // IndexIVF keeps its own counters: codes scored, plus one coarse distance per list.
  double ivf_distances_per_query(MatrixView queries, std::size_t k, std::size_t threads) {
    use_threads(threads);
    faiss::indexIVF_stats.reset();
    std::vector<std::int64_t> ids(queries.rows * k);
    run(queries.data, queries.rows, k, ivf_->nprobe, ids);
    const double scored = static_cast<double>(faiss::indexIVF_stats.ndis) / static_cast<double>(queries.rows);
    return scored + static_cast<double>(ivf_->nlist);
  }

  void run(const float* queries, std::size_t n, std::size_t k, std::size_t ef, std::span<std::int64_t> ids) {
    set_search_parameter(ef);
    distances_.resize(n * k);
    index_->search(static_cast<faiss_id>(n), queries, static_cast<faiss_id>(k), distances_.data(), ids.data());
  }

  std::string factory_;
  std::size_t ef_construction_;
  std::unique_ptr<faiss::Index> index_;
  faiss::IndexPreTransform* transform_ = nullptr;  // views into index_
  faiss::IndexHNSW* hnsw_ = nullptr;
  faiss::IndexIVF* ivf_ = nullptr;
  std::vector<float> distances_;  // FAISS insists on writing them; reused across calls
};

}  // namespace

std::unique_ptr<System> make_faiss_system(const std::string& factory, std::size_t ef_construction) {
  return std::make_unique<FaissSystem>(factory, ef_construction);
}

}  // namespace quiver::bench
