// `quiver demo`: the whole job on built-in defaults, as the README shows it: build an
// HNSW index on Fashion-MNIST (ann-benchmarks' fashion-mnist-784-euclidean), compute
// exact ground truth, and print the recall/QPS trade-off over the search window ef.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "command.h"
#include "interrupt_guard.h"
#include "progress_bar.h"
#include "quiver/error.h"
#include "quiver/exact_search.h"
#include "quiver/index.h"
#include "quiver/vector_io.h"
#include "recall.h"
#include "text_format.h"

namespace quiver::cli {
namespace {

constexpr const char* demo_spec = "hnsw32,efc200,f32";
constexpr std::array<std::size_t, 5> demo_efs = {16, 32, 64, 128, 256};

struct DemoArgs {
  std::filesystem::path data_dir = QUIVER_FASHION_MNIST_DIR;
  std::size_t queries = 1000;
  std::size_t threads = 0;
  std::size_t k = 10;
  std::size_t max_rows = 0;
};

std::filesystem::path data_file(const std::filesystem::path& dir, const char* name) {
  auto path = dir / name;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw NotFound("Fashion-MNIST not found: '" + path.string() +
                   "' does not exist. Install it with `apt-get install dataset-fashion-mnist`, "
                   "or point --data-dir at a directory holding the IDX .gz files");
  }
  return path;
}

struct Timed {
  std::vector<std::vector<Hit>> results;
  double qps = 0;
};

// Repeats the batch until it has run for at least min_seconds, so that QPS of a small
// query set is not dominated by thread start-up and timer resolution.
Timed timed_search(const Index& index, MatrixView queries, const SearchParams& params, std::size_t threads,
                   const InterruptGuard& interrupt) {
  constexpr double min_seconds = 0.3;
  constexpr int max_repeats = 100;
  Timed out;
  std::size_t answered = 0;
  const auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  for (int repeat = 0; repeat < max_repeats && seconds < min_seconds; ++repeat) {
    auto results = index.search_batch(queries, params, threads);
    if (interrupt.requested()) throw Cancelled("demo cancelled");
    if (repeat == 0) out.results = std::move(results);
    answered += queries.rows;
    seconds = seconds_since(start);
  }
  out.qps = static_cast<double>(answered) / std::max(seconds, 1e-9);
  return out;
}

int run_demo(const DemoArgs& args) {
  const auto train_path = data_file(args.data_dir, "train-images-idx3-ubyte.gz");
  const auto test_path = data_file(args.data_dir, "t10k-images-idx3-ubyte.gz");
  const std::size_t threads =
      args.threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : args.threads;

  const auto read_start = std::chrono::steady_clock::now();
  const Matrix base = read_vectors(train_path, args.max_rows == 0 ? std::numeric_limits<std::size_t>::max() : args.max_rows);
  const Matrix queries = read_vectors(test_path, args.queries);
  std::printf("Fashion-MNIST (ann-benchmarks fashion-mnist-784-euclidean): %s base vectors, %s queries, dim %zu\n",
              format_count(base.rows).c_str(), format_count(queries.rows).c_str(), base.cols);
  std::printf("read in %s from %s\n\n", format_duration(seconds_since(read_start)).c_str(),
              args.data_dir.string().c_str());
  std::fflush(stdout);

  const IndexSpec spec = IndexSpec::parse(demo_spec, Metric::L2, base.cols);
  std::optional<Index> index;
  double build_seconds = 0;
  {
    ProgressBar bar("building " + spec.to_string(), "vectors");
    BuildOptions options;
    options.threads = threads;
    options.progress = bar.callback();
    index.emplace(Index::build(spec, base, {}, options));
    bar.finish();
    build_seconds = bar.elapsed_seconds();
  }

  std::fprintf(stderr, "computing exact ground truth by brute force...\n");
  const auto truth_start = std::chrono::steady_clock::now();
  const IntMatrix truth = hit_ids(exact_search(base, queries, args.k, Metric::L2, threads), args.k);
  const double truth_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - truth_start).count();
  std::printf("built %s (l2) on %s vectors in %s on %zu threads, memory %s\n", spec.to_string().c_str(),
              format_count(index->size()).c_str(), format_duration(build_seconds).c_str(), threads,
              format_bytes(index->memory_bytes()).c_str());
  std::printf("exact ground truth by brute force in %s (%s QPS on %zu threads)\n\n",
              format_duration(truth_seconds).c_str(),
              format_rate(static_cast<double>(queries.rows) / std::max(truth_seconds, 1e-9)).c_str(), threads);

  const std::string batch_header = "QPS (" + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s") + ")";
  std::printf("%6s  %10s  %14s  %14s  %10s\n", "ef", ("recall@" + std::to_string(args.k)).c_str(),
              "QPS (1 thread)", batch_header.c_str(), "vs exact");
  std::fflush(stdout);
  // ef below k is not a valid search; those rows become one row at ef = k.
  std::vector<std::size_t> efs;
  for (const std::size_t ef : demo_efs) {
    const std::size_t effective = std::max(ef, args.k);
    if (efs.empty() || efs.back() != effective) efs.push_back(effective);
  }
  // "vs exact": how many times faster than brute force, the reason to use an index.
  const double brute_qps = static_cast<double>(queries.rows) / std::max(truth_seconds, 1e-9);
  // The "next" hint suggests the cheapest ef that reached this recall.
  constexpr double target_recall = 0.99;
  std::optional<std::size_t> suggested_ef;
  {
    InterruptGuard interrupt;
    for (const std::size_t ef : efs) {
      SearchParams params;
      params.k = args.k;
      params.ef = ef;
      params.cancel = interrupt.flag();
      const Timed single = timed_search(*index, queries, params, 1, interrupt);
      const Timed batch = timed_search(*index, queries, params, threads, interrupt);
      const double recall = recall_at_k(batch.results, truth.view(), args.k);
      if (!suggested_ef && recall >= target_recall) suggested_ef = ef;
      std::printf("%6zu  %10.4f  %14s  %14s  %9sx\n", params.ef, recall, format_rate(single.qps).c_str(),
                  format_rate(batch.qps).c_str(), format_rate(batch.qps / brute_qps).c_str());
      std::fflush(stdout);
    }
  }
  std::printf("\n(vs exact: batch QPS over exact brute-force search on the same threads)\n");
  const std::size_t next_ef = suggested_ef.value_or(efs.back());
  std::printf(
      "\nNext: build and keep an index, then search it (ef %zu %s):\n"
      "  quiver build %s --metric l2 --spec %s --output fmnist.idx\n"
      "  quiver search fmnist.idx %s --k %zu --ef %zu\n",
      next_ef, suggested_ef ? "is the smallest above with recall >= 0.99" : "is the largest tried",
      train_path.string().c_str(), demo_spec, test_path.string().c_str(), args.k, next_ef);
  return 0;
}

}  // namespace

Command add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Build an index on Fashion-MNIST and print recall@k and QPS for a range of ef.");
  cmd->add_option("--data-dir", args->data_dir, "Directory holding Fashion-MNIST's IDX .gz files")
      ->type_name("DIR")
      ->capture_default_str();
  cmd->add_option("-q,--queries", args->queries, "Number of t10k test queries, 1..10000")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}).description(""))
      ->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Threads for build, ground truth and batch\nsearch, 0 = all cores")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("-k,--k", args->k, "Neighbours per query; recall is measured at k")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{256}).description(""))
      ->capture_default_str();
  cmd->add_option("--max-rows", args->max_rows, "Use only the first N training vectors,\n0 = all 60000 (smaller is quicker)")
      ->type_name("N")
      ->capture_default_str();
  cmd->footer(
      "Builds hnsw32,efc200,f32 (L2) on the 60,000 training images, computes the exact\n"
      "nearest neighbours of the first --queries test images by brute force, then searches\n"
      "at ef = 16, 32, 64, 128, 256 single-threaded and batched on all threads. Takes about\n"
      "a minute on two cores. Needs `apt-get install dataset-fashion-mnist`.\n"
      "\n"
      "Example:\n"
      "  quiver demo\n"
      "  quiver demo --queries 200 --threads 4");
  return {cmd, [args] { return run_demo(*args); }};
}

}  // namespace quiver::cli
