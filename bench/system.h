// What the benchmark needs of a search system (quiver under one spec, hnswlib,
// FAISS): build once, search one query or a batch at a given search window, count the
// distance evaluations, report the index's memory. The sweep drives every system
// through this interface only, so all are timed by the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver::bench {

// The vectors a system indexes and is queried with. For a cosine data set, systems
// without their own cosine metric get unit-normalised copies and the inner product.
struct Workload {
  MatrixView base;
  MatrixView queries;
  Metric metric = Metric::L2;
};

class System {
 public:
  virtual ~System() = default;

  virtual std::string name() const = 0;    // "quiver", "hnswlib", "faiss"
  virtual std::string config() const = 0;  // build configuration, e.g. "hnsw32,efc200,f32"
  // The swept search window as the system calls it ("ef", "efSearch").
  virtual std::string search_parameter() const = 0;
  // Whether the system takes raw cosine data (and normalises itself).
  virtual bool handles_cosine() const { return false; }

  virtual void build(const Workload& workload, std::size_t threads) = 0;

  // Writes k ids of the nearest points, best first, -1 past the last hit found.
  virtual void search(std::span<const float> query, std::size_t k, std::size_t ef, std::span<std::int64_t> ids) = 0;
  // All rows of `queries` on `threads` threads; ids is rows x k.
  virtual void search_batch(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads,
                            std::span<std::int64_t> ids) = 0;

  // Mean distance evaluations per query at this ef, from an untimed pass over
  // `queries`, so that counting never slows down the timed searches.
  virtual double distances_per_query(MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads) = 0;

  virtual std::size_t memory_bytes() const = 0;
};

}  // namespace quiver::bench
