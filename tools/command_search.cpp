// `quiver search`: runs a batch of queries against a saved index, prints or writes the
// neighbours, and reports QPS and, given ground truth, recall@k.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <thread>

#include "command.h"
#include "dataset_input.h"
#include "interrupt_guard.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "quiver/vector_io.h"
#include "recall.h"
#include "text_format.h"

namespace quiver::cli {
namespace {

struct SearchArgs {
  std::filesystem::path index_dir;
  std::filesystem::path queries;
  std::size_t k = 10;
  std::size_t ef = 64;
  std::size_t buffer = 0;
  std::size_t threads = 0;
  std::filesystem::path output;
  std::filesystem::path groundtruth;
  std::size_t max_queries = 0;
  bool print_all = false;
};

constexpr std::size_t printed_queries = 10;

void require_index_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw NotFound("index directory '" + dir.string() + "' does not exist (build one with `quiver build`)");
  }
}

void check_output_extension(const std::filesystem::path& output) {
  const std::string ext = output.extension().string();
  if (ext != ".ivecs" && ext != ".ibin" && ext != ".npy") {
    throw InvalidArgument("--output '" + output.string() + "': expected a .ivecs, .ibin or .npy file");
  }
}

void write_results(const std::filesystem::path& output, const std::vector<std::vector<Hit>>& results,
                   std::size_t k) {
  IntMatrix ids(results.size(), k);
  std::fill(ids.values.begin(), ids.values.end(), -1);  // fewer than k hits: padded with -1
  for (std::size_t q = 0; q < results.size(); ++q) {
    auto row = ids.row(q);
    for (std::size_t i = 0; i < std::min(k, results[q].size()); ++i) {
      const std::uint64_t id = results[q][i].id;
      if (id > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
        throw InvalidArgument("id " + std::to_string(id) + " does not fit the 32-bit ids of " +
                              output.extension().string() + " files");
      }
      row[i] = static_cast<std::int32_t>(id);
    }
  }
  write_int_vectors(output, ids.view());
}

void print_results(const std::vector<std::vector<Hit>>& results, bool print_all) {
  const std::size_t shown = print_all ? results.size() : std::min(results.size(), printed_queries);
  for (std::size_t q = 0; q < shown; ++q) {
    std::printf("%zu:", q);
    for (const Hit& hit : results[q]) std::printf(" %llu:%g", static_cast<unsigned long long>(hit.id), hit.score);
    std::printf("\n");
  }
  if (shown < results.size()) {
    std::printf("... %zu more queries (--print-all prints them, --output writes them to a file)\n",
                results.size() - shown);
  }
}

int run_search(const SearchArgs& args) {
  require_index_dir(args.index_dir);
  require_file(args.queries, "queries");
  if (!args.groundtruth.empty()) require_file(args.groundtruth, "ground-truth");
  if (!args.output.empty()) check_output_extension(args.output);

  const auto load_start = std::chrono::steady_clock::now();
  const Index index = Index::load(args.index_dir);
  std::fprintf(stderr, "loaded %s (%s, %s vectors of dim %zu) in %s\n", args.index_dir.string().c_str(),
               index.spec().to_string().c_str(), format_count(index.size()).c_str(), index.spec().dim,
               format_duration(seconds_since(load_start)).c_str());

  const std::size_t max_queries = args.max_queries == 0 ? all_rows : args.max_queries;
  VectorInput input = read_vector_input(args.queries, Hdf5Part::Test, max_queries);
  const Matrix& queries = input.vectors;
  if (queries.rows == 0) throw InvalidArgument("'" + args.queries.string() + "' holds no query vectors");
  if (queries.cols != index.spec().dim) {
    throw InvalidArgument("queries in '" + args.queries.string() + "' have dimension " +
                          std::to_string(queries.cols) + ", but the index has dimension " +
                          std::to_string(index.spec().dim));
  }

  IntMatrix truth;
  std::string truth_source;
  if (!args.groundtruth.empty()) {
    truth = read_groundtruth(args.groundtruth, queries.rows);
    truth_source = args.groundtruth.string();
  } else if (input.neighbors.rows > 0) {
    if (input.neighbors.cols >= args.k) {
      truth = std::move(input.neighbors);
      truth_source = args.queries.string() + " (neighbors)";
    } else {
      std::fprintf(stderr, "note: %s has %zu neighbours per query, fewer than k = %zu: no recall reported\n",
                   args.queries.string().c_str(), input.neighbors.cols, args.k);
    }
  }
  if (truth.rows > 0 && (truth.rows < queries.rows || truth.cols < args.k)) {
    throw InvalidArgument("ground truth " + truth_source + " has " + std::to_string(truth.rows) + " x " +
                          std::to_string(truth.cols) + " neighbour ids; " + std::to_string(queries.rows) +
                          " queries at k = " + std::to_string(args.k) + " need at least " +
                          std::to_string(queries.rows) + " x " + std::to_string(args.k));
  }

  const std::size_t threads =
      args.threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : args.threads;
  SearchParams params;
  params.k = args.k;
  params.ef = args.ef;
  params.buffer = args.buffer;
  SearchStats stats;
  std::vector<std::vector<Hit>> results;
  double seconds = 0;
  {
    InterruptGuard interrupt;
    params.cancel = interrupt.flag();
    const auto start = std::chrono::steady_clock::now();
    results = index.search_batch(queries.view(), params, threads, &stats);
    seconds = seconds_since(start);
    if (interrupt.requested()) throw Cancelled("search cancelled");
  }

  if (args.output.empty()) {
    print_results(results, args.print_all);
  } else {
    write_results(args.output, results, args.k);
    std::printf("wrote %zu x %zu neighbour ids to %s\n", results.size(), args.k, args.output.string().c_str());
  }

  const double qps = static_cast<double>(queries.rows) / std::max(seconds, 1e-9);
  std::printf("%zu queries, k=%zu, ef=%zu: %s QPS on %zu threads (%s mean latency)\n", queries.rows,
              args.k, args.ef, format_rate(qps).c_str(), threads,
              format_duration(seconds * static_cast<double>(threads) / static_cast<double>(queries.rows)).c_str());
  if (stats.queries > 0) {
    std::printf("work per query: %s distances, %s hops\n",
                format_count(stats.distances / stats.queries).c_str(), format_count(stats.hops / stats.queries).c_str());
  }
  if (truth.rows > 0) {
    std::printf("recall@%zu: %.4f (ground truth: %s)\n", args.k, recall_at_k(results, truth.view(), args.k),
                truth_source.c_str());
  }
  return 0;
}

}  // namespace

Command add_search_command(CLI::App& app) {
  auto args = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand("search", "Search a saved index with a file of query vectors.");
  cmd->add_option("INDEX_DIR", args->index_dir, "Index directory written by `quiver build`")
      ->type_name("DIR")
      ->required();
  cmd->add_option("QUERIES", args->queries,
                  "Query vectors, any format `quiver build` reads; for\n"
                  ".hdf5 the `test` set (its `neighbors` give recall)")
      ->type_name("FILE")
      ->required();
  cmd->add_option("-k,--k", args->k, "Neighbours to return per query")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}).description(""))
      ->capture_default_str();
  cmd->add_option("--ef", args->ef,
                  "Search window: larger is slower, more accurate; below --k the walk\n"
                  "is that narrow and the best k keys it scored come back")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}).description(""))
      ->capture_default_str();
  cmd->add_option("--buffer", args->buffer,
                  "Candidates re-ranked at full precision (>= ef; 0 = ef):\n"
                  "more recall for compressed indexes, same walk")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Search threads, 0 = all cores")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("-o,--output", args->output,
                  "Write the neighbour ids to FILE (.ivecs, .ibin, .npy;\n"
                  "-1 pads missing results) instead of printing them")
      ->type_name("FILE");
  cmd->add_option("-g,--groundtruth", args->groundtruth,
                  "True neighbour ids (.ivecs, .ibin, .npy, or .hdf5\n"
                  "`neighbors`): report recall@k")
      ->type_name("FILE");
  cmd->add_option("--max-queries", args->max_queries, "Use only the first N queries, 0 = all")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_flag("--print-all", args->print_all, "Print every query's results, not just the first 10");
  cmd->footer(
      "Output: one line per query, `query_index: id:score id:score ...`, best first; score\n"
      "is the squared L2 distance (l2) or the similarity (ip, cosine). Then QPS, and recall@k\n"
      "when ground truth is given.\n"
      "\n"
      "Example:\n"
      "  quiver search fmnist.idx /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \\\n"
      "      --k 10 --ef 64 --max-queries 1000\n"
      "  quiver search sift.idx sift_query.fvecs --groundtruth sift_groundtruth.ivecs --ef 128");
  return {cmd, [args] { return run_search(*args); }};
}

}  // namespace quiver::cli
