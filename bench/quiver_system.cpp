#include "bench/quiver_system.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "quiver/index.h"

namespace quiver::bench {
namespace {

class QuiverSystem final : public System {
 public:
  QuiverSystem(const IndexSpec& spec, MatrixView sample_queries, std::size_t buffer_factor, double added_fraction,
               bool relearn)
      : spec_(spec),
        sample_queries_(sample_queries),
        buffer_factor_(std::max<std::size_t>(buffer_factor, 1)),
        added_fraction_(added_fraction),
        relearn_(relearn) {}

  std::string name() const override { return "quiver"; }
  std::string config() const override {
    return spec_.to_string() + (buffer_factor_ > 1 ? ":buffer=" + std::to_string(buffer_factor_) : "") +
           (added_fraction_ > 0 ? " (last " + std::to_string(std::lround(added_fraction_ * 100)) + " % added" +
                                      (relearn_ ? ", relearned)" : ")")
                                : "");
  }
  std::string search_parameter() const override { return "ef"; }
  bool handles_cosine() const override { return true; }

  void build(const Workload& workload, std::size_t threads) override {
    BuildOptions options;
    options.threads = threads;
    options.sample_queries = sample_queries_;
    // With an added fraction, the last rows arrive after the build in batches, as keys
    // do when a KV cache grows; ids stay the row numbers.
    const MatrixView base = workload.base;
    const auto added = static_cast<std::size_t>(std::lround(added_fraction_ * static_cast<double>(base.rows)));
    const std::size_t built = base.rows - added;
    std::vector<std::uint64_t> ids(base.rows);
    std::iota(ids.begin(), ids.end(), std::uint64_t{0});
    if (built > 0) {
      index_ = Index::build(spec_, base.slice(0, built), std::span(ids).first(built), options);
    } else {
      index_ = spec_.graph == GraphKind::Attention ? Index::create(spec_, sample_queries_) : Index::create(spec_);
    }
    constexpr std::size_t batch = 1000;
    for (std::size_t first = built; first < base.rows; first += batch) {
      const std::size_t count = std::min(batch, base.rows - first);
      index_->add(std::span(ids).subspan(first, count), base.slice(first, count), options);
    }
    if (relearn_) index_->compact(options);
  }

  void search(std::span<const float> query, std::size_t k, std::size_t ef, std::span<std::int64_t> ids) override {
    copy_ids(index_->search(query, params(k, ef)), ids);
  }

  void search_batch(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads,
                    std::span<std::int64_t> ids) override {
    const std::vector<std::vector<Hit>> results = index_->search_batch(queries, params(k, ef), threads);
    for (std::size_t q = 0; q < results.size(); ++q) copy_ids(results[q], ids.subspan(q * k, k));
  }

  double distances_per_query(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads) override {
    SearchStats stats;
    index_->search_batch(queries, params(k, ef), threads, &stats);
    return static_cast<double>(stats.distances) / static_cast<double>(queries.rows);
  }

  std::size_t memory_bytes() const override { return index_->memory_bytes(); }

 private:
  SearchParams params(std::size_t k, std::size_t ef) const {
    SearchParams params;
    params.k = k;
    params.ef = ef;  // below k quiver walks that narrow and keeps the best k scored; hnswlib and FAISS raise it to k
    if (buffer_factor_ > 1) params.buffer = buffer_factor_ * params.ef;
    return params;
  }

  static void copy_ids(const std::vector<Hit>& hits, std::span<std::int64_t> ids) {
    const std::size_t n = std::min(hits.size(), ids.size());
    for (std::size_t j = 0; j < n; ++j) ids[j] = static_cast<std::int64_t>(hits[j].id);
    std::fill(ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), -1);
  }

  IndexSpec spec_;
  MatrixView sample_queries_;
  std::size_t buffer_factor_;
  double added_fraction_;
  bool relearn_;
  std::optional<Index> index_;
};

}  // namespace

std::unique_ptr<System> make_quiver_system(const IndexSpec& spec, MatrixView sample_queries,
                                          std::size_t buffer_factor, double added_fraction, bool relearn) {
  return std::make_unique<QuiverSystem>(spec, sample_queries, buffer_factor, added_fraction, relearn);
}

}  // namespace quiver::bench
