// The measurement protocol: build every system once (timed), then for each thread mode
// and search window run each system's searches a few times, interleaved, and keep the
// best repetition. Interleaving means a burst of background load on a shared machine
// hits all systems alike instead of whichever happened to run then.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/recall.h"
#include "bench/system.h"

namespace quiver::bench {

struct Contender {
  std::unique_ptr<System> system;
  Workload workload;  // what the system is built on and queried with
  double build_s = 0.0;
  std::size_t memory_bytes = 0;
};

// One point of a system's recall/QPS curve.
struct SweepPoint {
  std::string system;
  std::string config;
  std::string parameter;  // name of the search window ("ef", "efSearch")
  std::size_t ef = 0;
  std::size_t threads = 1;
  double recall = 0.0;
  std::optional<double> top10_recall;  // recall 10@k, when k > 10
  double qps = 0.0;
  std::optional<double> p50_us;  // single-thread mode only: batch mode has no per-query times
  std::optional<double> p99_us;
  double dist_per_query = 0.0;
  double build_s = 0.0;
  std::size_t memory_bytes = 0;
};

struct SweepOptions {
  std::size_t k = 10;
  std::vector<std::size_t> efs;
  std::vector<std::size_t> thread_modes;  // 1 = one search call per query; N > 1 = one batch on N threads
  std::size_t reps = 3;
  std::size_t counting_threads = 1;  // for the untimed distance-counting passes
};

// Builds each contender on its workload, filling build_s and memory_bytes.
void build_all(std::vector<Contender>& contenders, std::size_t threads);

std::vector<SweepPoint> run_sweep(std::vector<Contender>& contenders, const RecallScorer& scorer,
                                  const SweepOptions& options);

}  // namespace quiver::bench
