#include "bench/sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <map>
#include <utility>

namespace quiver::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct Timing {
  double seconds = 0.0;
  std::vector<double> latencies_us;  // per query, single-thread mode only
};

Timing time_single(System& system, MatrixView queries, std::size_t k, std::size_t ef, std::span<std::int64_t> ids) {
  Timing timing;
  timing.latencies_us.resize(queries.rows);
  const Clock::time_point start = Clock::now();
  for (std::size_t q = 0; q < queries.rows; ++q) {
    const Clock::time_point before = Clock::now();
    system.search(queries.row(q), k, ef, ids.subspan(q * k, k));
    timing.latencies_us[q] = seconds_between(before, Clock::now()) * 1e6;
  }
  timing.seconds = seconds_between(start, Clock::now());
  return timing;
}

Timing time_batch(System& system, MatrixView queries, std::size_t k, std::size_t ef, std::size_t threads,
                  std::span<std::int64_t> ids) {
  Timing timing;
  const Clock::time_point start = Clock::now();
  system.search_batch(queries, k, ef, threads, ids);
  timing.seconds = seconds_between(start, Clock::now());
  return timing;
}

// Nearest-rank percentile of unsorted values.
double percentile(std::vector<double> values, double fraction) {
  const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(values.size())));
  const std::size_t index = std::clamp<std::size_t>(rank, 1, values.size()) - 1;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

}  // namespace

void build_all(std::vector<Contender>& contenders, std::size_t threads) {
  for (Contender& c : contenders) {
    std::cerr << "build " << c.system->name() << " " << c.system->config() << " on " << c.workload.base.rows
              << " x " << c.workload.base.cols << " (" << threads << " threads) ... " << std::flush;
    const Clock::time_point start = Clock::now();
    c.system->build(c.workload, threads);
    c.build_s = seconds_between(start, Clock::now());
    c.memory_bytes = c.system->memory_bytes();
    std::cerr << std::fixed << std::setprecision(1) << c.build_s << " s, " << c.memory_bytes / 1e6 << " MB\n";
  }
}

std::vector<SweepPoint> run_sweep(std::vector<Contender>& contenders, const RecallScorer& scorer,
                                  const SweepOptions& options) {
  const std::size_t k = options.k;
  std::vector<SweepPoint> points;
  // Distance counts do not depend on the thread mode: count once per (system, ef).
  std::map<std::pair<std::size_t, std::size_t>, double> distance_counts;

  for (const std::size_t threads : options.thread_modes) {
    for (const std::size_t ef : options.efs) {
      std::vector<SweepPoint> row(contenders.size());
      std::vector<std::int64_t> ids;
      for (std::size_t rep = 0; rep < options.reps; ++rep) {
        for (std::size_t c = 0; c < contenders.size(); ++c) {
          Contender& contender = contenders[c];
          const MatrixView queries = contender.workload.queries;
          ids.assign(queries.rows * k, -1);
          const Timing timing = threads == 1 ? time_single(*contender.system, queries, k, ef, ids)
                                             : time_batch(*contender.system, queries, k, ef, threads, ids);
          const double qps = static_cast<double>(queries.rows) / timing.seconds;
          SweepPoint& point = row[c];
          if (rep == 0) {
            point.recall = scorer.recall(ids);
            point.top10_recall = scorer.top10_recall(ids);
          }
          if (qps > point.qps) {
            point.qps = qps;
            if (!timing.latencies_us.empty()) {
              point.p50_us = percentile(timing.latencies_us, 0.50);
              point.p99_us = percentile(timing.latencies_us, 0.99);
            }
          }
        }
      }

      std::cerr << std::fixed << "threads " << threads << " ef " << std::setw(4) << ef << ":";
      for (std::size_t c = 0; c < contenders.size(); ++c) {
        Contender& contender = contenders[c];
        const auto key = std::make_pair(c, ef);
        if (!distance_counts.contains(key)) {
          distance_counts[key] =
              contender.system->distances_per_query(contender.workload.queries, k, ef, options.counting_threads);
        }
        SweepPoint& point = row[c];
        point.system = contender.system->name();
        point.config = contender.system->config();
        point.parameter = contender.system->search_parameter();
        point.ef = ef;
        point.threads = threads;
        point.dist_per_query = distance_counts[key];
        point.build_s = contender.build_s;
        point.memory_bytes = contender.memory_bytes;
        std::cerr << "  " << point.system << " " << point.config << " " << std::setprecision(3) << point.recall << " @ "
                  << std::setprecision(0) << point.qps << " qps";
        points.push_back(std::move(point));
      }
      std::cerr << "\n";
    }
  }
  return points;
}

}  // namespace quiver::bench
