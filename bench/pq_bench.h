// quiver-bench --pq-compare: query-aware product quantization (A²ATS), and the same weighted
// by how often sample queries retrieve each key (score-aware), against plain PQ at the same
// code size on the same keys. All are trained on the base vectors, the query-aware ones
// also on the sample queries (--train-queries or the set's own); the
// figures are for the evaluation queries: score error of their true top-100 keys, recall@k
// of the flat LUT scan after exact re-ranking of R candidates, and scan throughput.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "bench/dataset.h"
#include "quiver/matrix.h"

namespace quiver::bench {

struct PqBenchOptions {
  std::vector<std::size_t> sub_spaces;  // M values to compare, each dividing the dimension
  unsigned bits = 8;                    // 8 or 4
  std::vector<std::size_t> candidates{100, 200, 500};  // R: re-ranked per query
  std::size_t k = 10;
  std::size_t top = 100;     // the true top keys whose score error is measured
  std::size_t threads = 0;   // training, encoding and the batch scans
  double ridge = 1e-2;       // QueryAwarePqOptions::ridge
  std::size_t iterations = 20;
  // The score-aware row's QueryAwarePqOptions::weight_neighbours and weight_floor.
  std::size_t weight_neighbours = 100;
  double weight_floor = 1.0;
  std::size_t reps = 1;      // scan timings: best of reps
};

struct PqRecallPoint {
  std::size_t candidates = 0;
  double recall = 0;  // recall@k after re-ranking `candidates`
  double qps = 0;     // scan + re-rank, all queries as one batch on `threads` threads
};

struct PqBenchRow {
  // "plain", "plain + rotation" (OPQ's eigenvalue allocation), "query-aware" (A²ATS),
  // "+ rotation" (that, balanced after whitening), "+ retrieval weights" (k-means weighted
  // by how often sample queries retrieve each key), "score-aware" (that, and anisotropic
  // encoding), then "plain + rotation + overlapping" and "score-aware + overlapping"
  // (codebooks that also span the next sub-space)
  std::string method;
  std::size_t sub_spaces = 0;
  unsigned bits = 0;
  std::size_t code_bytes = 0;
  double train_s = 0;
  double encode_s = 0;
  double top_mse = 0;  // mean over queries and their true top keys of (<q, x> - estimate)^2
  double all_mse = 0;  // the same over a fixed sample of all keys
  std::vector<PqRecallPoint> recall;
};

// `truth`: exact top ids per evaluation query, best first, at least max(top, k) columns.
std::vector<PqBenchRow> run_pq_bench(const Dataset& data, IntMatrixView truth, const PqBenchOptions& options,
                                     std::ostream& log);
// A Markdown table, one row per (method, M), with the query-aware / plain ratios after each pair.
void print_pq_table(std::ostream& out, const std::string& dataset, const PqBenchOptions& options,
                    const std::vector<PqBenchRow>& rows);

}  // namespace quiver::bench
