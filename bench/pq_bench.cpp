#include "bench/pq_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "bench/parallel_for.h"
#include "quant/pq_flat_search.h"
#include "quant/query_aware_pq.h"
#include "quiver/error.h"

namespace quiver::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Keys per query for the all-keys error: a fixed seeded sample, the same for both methods.
constexpr std::size_t kErrorSampleKeys = 2000;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double dot(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += double{a[i]} * b[i];
  return sum;
}

struct Errors {
  double top = 0;
  double all = 0;
};

// Estimates come from the float lookup table (for 4 bits too): the error of the codebooks,
// not of the fast-scan byte rounding, which both methods share.
Errors score_errors(const quant::QueryAwarePq& pq, const quant::PqCodes& codes, const Dataset& data,
                    IntMatrixView truth, const std::vector<std::size_t>& sample, std::size_t top,
                    std::size_t threads) {
  const MatrixView queries = data.queries.view();
  std::vector<double> top_sum(queries.rows, 0.0);
  std::vector<double> all_sum(queries.rows, 0.0);
  parallel_for(queries.rows, threads, [&](std::size_t q) {
    std::vector<float> lut(pq.lookup_table_size());
    pq.lookup_table(queries.row(q), lut);
    for (std::size_t j = 0; j < top; ++j) {
      const auto id = static_cast<std::size_t>(truth.row(q)[j]);
      const double error = dot(queries.row(q), data.base.row(id)) - pq.estimate(lut, codes, id);
      top_sum[q] += error * error;
    }
    for (const std::size_t id : sample) {
      const double error = dot(queries.row(q), data.base.row(id)) - pq.estimate(lut, codes, id);
      all_sum[q] += error * error;
    }
  });
  Errors errors;
  for (std::size_t q = 0; q < queries.rows; ++q) {
    errors.top += top_sum[q];
    errors.all += all_sum[q];
  }
  errors.top /= static_cast<double>(queries.rows * top);
  errors.all /= static_cast<double>(queries.rows * sample.size());
  return errors;
}

double recall_at(const std::vector<std::vector<Hit>>& found, IntMatrixView truth, std::size_t k) {
  std::size_t hits = 0;
  for (std::size_t q = 0; q < found.size(); ++q) {
    const auto row = truth.row(q);
    for (const Hit& hit : found[q]) {
      hits += std::find(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(k),
                        static_cast<std::int32_t>(hit.id)) != row.begin() + static_cast<std::ptrdiff_t>(k);
    }
  }
  return static_cast<double>(hits) / static_cast<double>(found.size() * k);
}

// The trainings compared at each M; rows come out in this order, each adding one step.
struct Method {
  const char* name;
  bool query_aware;
  bool balanced;  // QueryAwarePqOptions::balance_sub_spaces
  bool score_weighted;
  bool anisotropic;
  bool overlapping;  // QueryAwarePqOptions::overlapping
};
constexpr Method kMethods[] = {{"plain", false, false, false, false, false},
                               {"plain + rotation", false, true, false, false, false},
                               {"query-aware", true, false, false, false, false},
                               {"+ rotation", true, true, false, false, false},
                               {"+ retrieval weights", true, true, true, false, false},
                               {"score-aware", true, true, true, true, false},
                               {"plain + rotation + overlapping", false, true, false, false, true},
                               {"score-aware + overlapping", true, true, true, true, true}};
constexpr std::size_t kMethodCount = std::size(kMethods);
// Rows compared with the plain row of the same quantizer family, which isolates what the
// queries add: score-aware with plain + rotation, and the overlapping pair likewise.
constexpr std::size_t kRotatedPlainRow = 1;
constexpr std::size_t kScoreAwareRow = 5;
constexpr std::size_t kOverlappingPlainRow = 6;

PqBenchRow measure(const Method& method, const Dataset& data, IntMatrixView truth, std::size_t sub_spaces,
                   const std::vector<std::size_t>& sample, const PqBenchOptions& options, std::ostream& log) {
  const MatrixView sample_queries = method.query_aware ? data.train_queries.view() : MatrixView{};
  quant::QueryAwarePqOptions pq_options;
  pq_options.weight_neighbours = method.score_weighted ? options.weight_neighbours : 0;
  pq_options.weight_floor = options.weight_floor;
  pq_options.anisotropic = method.anisotropic;
  pq_options.balance_sub_spaces = method.balanced;
  pq_options.overlapping = method.overlapping;
  pq_options.sub_spaces = sub_spaces;
  pq_options.bits = options.bits;
  pq_options.ridge = options.ridge;
  pq_options.iterations = options.iterations;
  pq_options.threads = options.threads;
  PqBenchRow row;
  row.method = method.name;
  row.sub_spaces = sub_spaces;
  row.bits = options.bits;
  Clock::time_point start = Clock::now();
  const quant::QueryAwarePq pq = quant::QueryAwarePq::train(data.base, sample_queries, pq_options);
  row.train_s = seconds_since(start);
  row.code_bytes = pq.code_bytes();
  start = Clock::now();
  const quant::PqCodes codes = pq.encode(data.base, options.threads);
  row.encode_s = seconds_since(start);
  const Errors errors = score_errors(pq, codes, data, truth, sample, options.top, options.threads);
  row.top_mse = errors.top;
  row.all_mse = errors.all;
  for (const std::size_t r : options.candidates) {
    quant::PqFlatSearchParams params;
    params.k = options.k;
    params.candidates = r;
    params.threads = options.threads;
    PqRecallPoint point;
    point.candidates = r;
    double best = 0;
    for (std::size_t rep = 0; rep < std::max<std::size_t>(options.reps, 1); ++rep) {
      start = Clock::now();
      const auto found = quant::pq_flat_search(pq, codes, data.base, data.queries, params);
      const double seconds = seconds_since(start);
      if (rep == 0 || seconds < best) best = seconds;
      point.recall = recall_at(found, truth, options.k);
    }
    point.qps = static_cast<double>(data.queries.rows) / best;
    row.recall.push_back(point);
  }
  log << "pq-compare: " << method.name << " M=" << sub_spaces << " bits=" << options.bits << " train " << row.train_s
      << " s, encode " << row.encode_s << " s, anisotropy " << pq.anisotropy() << ", top-" << options.top << " MSE "
      << row.top_mse << "\n";
  return row;
}

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

std::string general(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.4g", value);
  return buffer;
}

}  // namespace

std::vector<PqBenchRow> run_pq_bench(const Dataset& data, IntMatrixView truth, const PqBenchOptions& options,
                                     std::ostream& log) {
  if (data.metric != Metric::InnerProduct) {
    throw InvalidArgument("--pq-compare scores inner products; the data set's metric is " + to_string(data.metric));
  }
  if (data.train_queries.rows == 0) {
    throw InvalidArgument("--pq-compare needs sample queries for the query-aware codebooks (--train-queries)");
  }
  if (options.sub_spaces.empty()) throw InvalidArgument("--pq-compare needs at least one sub-space count");
  if (truth.rows != data.queries.rows || truth.cols < std::max(options.top, options.k)) {
    throw InvalidArgument("--pq-compare needs the top " + std::to_string(std::max(options.top, options.k)) +
                          " neighbours of every query; the ground truth has " + std::to_string(truth.cols));
  }
  std::mt19937_64 rng(99);
  std::vector<std::size_t> sample(std::min(kErrorSampleKeys, data.base.rows));
  for (std::size_t& id : sample) id = static_cast<std::size_t>(rng() % data.base.rows);
  std::vector<PqBenchRow> rows;
  for (const std::size_t m : options.sub_spaces) {
    for (const Method& method : kMethods) rows.push_back(measure(method, data, truth, m, sample, options, log));
  }
  return rows;
}

void print_pq_table(std::ostream& out, const std::string& dataset, const PqBenchOptions& options,
                    const std::vector<PqBenchRow>& rows) {
  out << "\n### PQ: query-aware vs plain, " << dataset << ", " << options.bits << "-bit sub-codes\n\n";
  out << "| method | M | bytes/vec | train s | top-" << options.top << " MSE | all-keys MSE |";
  for (const std::size_t r : options.candidates) out << " R@" << options.k << " R=" << r << " |";
  for (const std::size_t r : options.candidates) out << " QPS R=" << r << " |";
  out << "\n|---|---|---|---|---|---|";
  for (std::size_t i = 0; i < 2 * options.candidates.size(); ++i) out << "---|";
  out << "\n";
  for (const PqBenchRow& row : rows) {
    out << "| " << row.method << " | " << row.sub_spaces << " | " << row.code_bytes << " | " << fixed(row.train_s, 1)
        << " | " << general(row.top_mse) << " | " << general(row.all_mse) << " |";
    for (const PqRecallPoint& p : row.recall) out << " " << fixed(p.recall, 4) << " |";
    for (const PqRecallPoint& p : row.recall) out << " " << fixed(p.qps, 0) << " |";
    out << "\n";
  }
  out << "\nEach row / plain at equal M (target: top-" << options.top
      << " MSE ratio <= 0.5, higher recall):\n\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i % kMethodCount == 0) continue;
    const PqBenchRow& plain = rows[i - i % kMethodCount];
    const PqBenchRow& aware = rows[i];
    out << "- " << aware.method << " M=" << plain.sub_spaces << ": top-" << options.top << " MSE ratio "
        << fixed(aware.top_mse / plain.top_mse, 3) << ", all-keys MSE ratio " << fixed(aware.all_mse / plain.all_mse, 3)
        << ", recall@" << options.k;
    for (std::size_t j = 0; j < plain.recall.size(); ++j) {
      out << (j ? "," : "") << " R=" << plain.recall[j].candidates << " " << fixed(plain.recall[j].recall, 4) << " -> "
          << fixed(aware.recall[j].recall, 4);
    }
    out << ", QPS ratio at R=" << plain.recall.front().candidates << " "
        << fixed(aware.recall.front().qps / plain.recall.front().qps, 2) << "\n";
    const std::size_t family = i % kMethodCount == kScoreAwareRow       ? kRotatedPlainRow
                               : i % kMethodCount == kMethodCount - 1 ? kOverlappingPlainRow
                                                                      : i % kMethodCount;
    if (family != i % kMethodCount) {
      const PqBenchRow& rotated = rows[i - i % kMethodCount + family];
      out << "- " << aware.method << " / " << rotated.method << " M=" << plain.sub_spaces << ": top-" << options.top
          << " MSE ratio " << fixed(aware.top_mse / rotated.top_mse, 3) << ", all-keys MSE ratio "
          << fixed(aware.all_mse / rotated.all_mse, 3) << "\n";
    }
  }
}

}  // namespace quiver::bench
