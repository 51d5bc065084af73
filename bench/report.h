// Everything quiver-bench writes: the table on stdout, the "QPS at recall >= R"
// comparison, the JSON document of shared/BENCH.md, and per-curve .dat files for
// bench/plot.
#pragma once

#include <cstddef>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "bench/machine.h"
#include "bench/sweep.h"

namespace quiver::bench {

// What a run measured on, as the JSON document's header records it.
struct RunInfo {
  std::string dataset;
  std::size_t n = 0;
  std::size_t nq = 0;
  std::size_t dim = 0;
  std::string metric;
  std::size_t k = 0;
  std::vector<std::size_t> thread_modes;
  Machine machine;
  std::size_t M = 0;
  std::size_t ef_construction = 0;
  std::size_t build_threads = 0;
  std::size_t reps = 0;
  bool quick = false;
  std::string command;  // the command line, to rerun it exactly
};

// The best QPS a curve reaches at recall >= target, read off measured points only.
struct RecallThreshold {
  std::size_t threads = 1;
  std::string config;  // the quiver config compared
  double target = 0.0;
  double quiver_qps = 0.0;  // 0 where the curve never reaches the target
  double hnswlib_qps = 0.0;
  double faiss_qps = 0.0;
};

inline constexpr double recall_targets[] = {0.8, 0.9, 0.95, 0.99};

std::vector<RecallThreshold> qps_at_recall(const std::vector<SweepPoint>& points);

void print_table(std::ostream& out, const RunInfo& info, const std::vector<SweepPoint>& points);
void print_qps_at_recall(std::ostream& out, const std::vector<RecallThreshold>& thresholds);
void write_json(const std::filesystem::path& path, const RunInfo& info, const std::vector<SweepPoint>& points,
                const std::vector<RecallThreshold>& thresholds);
// One whitespace-separated file per (system, config, threads): recall qps ef p50 p99 dist.
void write_plot_data(const std::filesystem::path& dir, const RunInfo& info, const std::vector<SweepPoint>& points);

}  // namespace quiver::bench
