// quiver-bench: recall@k against QPS, latency, build time and memory for quiver and
// its peers (hnswlib, FAISS) on the same data in the same run. The command line and
// the JSON it writes are the contract of shared/BENCH.md; bench/README.md explains
// every figure.
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/dataset.h"
#include "bench/faiss_system.h"
#include "bench/filter_bench.h"
#include "bench/ground_truth.h"
#include "bench/hnswlib_system.h"
#include "bench/machine.h"
#include "bench/pq_bench.h"
#include "bench/quiver_system.h"
#include "bench/recall.h"
#include "bench/report.h"
#include "bench/sweep.h"
#include "bench/vector_math.h"
#include "quiver/error.h"
#include "quiver/index_spec.h"

namespace quiver::bench {
namespace {

namespace fs = std::filesystem;

// --quick: few enough queries and repetitions that a sweep takes about a minute on 2 cores.
constexpr std::size_t quick_queries = 1000;

struct Options {
  std::string dataset;
  std::string queries;
  std::string metric;
  std::size_t k = 10;
  std::vector<std::size_t> threads{1};
  std::string json;
  std::string configs;
  std::string faiss_configs;
  std::vector<std::string> peers{"hnswlib", "faiss"};
  bool quick = false;
  std::string train_queries;
  std::string groundtruth;
  std::size_t M = 32;
  std::size_t ef_construction = 200;
  std::vector<std::size_t> efs{10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
  std::size_t reps = 3;
  std::string cache_dir;
  std::string plot_data;
  std::size_t max_queries = 0;        // 0 = all
  std::size_t max_train_queries = 0;  // 0 = all
  double added_fraction = 0.0;  // quiver only: the last fraction of the base arrives through add()
  bool relearn = false;         // quiver only: compact() after those adds
  std::vector<double> filter_selectivities;  // non-empty: the filtered-search benchmark instead of the sweep
  std::vector<std::size_t> pq_compare;       // non-empty: query-aware vs plain PQ at these M instead of the sweep
  unsigned pq_bits = 8;
  double pq_weight_floor = 1.0;
  std::vector<std::size_t> rerank_candidates{100, 200, 500};
};

std::string default_cache_dir() {
  if (const char* dir = std::getenv("QUIVER_CACHE_DIR"); dir && *dir) return dir;
  if (const char* home = std::getenv("HOME"); home && *home) return (fs::path(home) / ".cache" / "quiver").string();
  return "";
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string command_line(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool plain = arg.find_first_of(" ;\"'$&|<>*?") == std::string::npos && !arg.empty();
    command += (i ? " " : "") + (plain ? arg : "'" + arg + "'");
  }
  return command;
}

// quiver's configuration when --configs gives none: the peers' graph parameters, float32.
std::string default_spec(const Options& options) {
  return "hnsw" + std::to_string(options.M) + ",efc" + std::to_string(options.ef_construction) + ",f32";
}

// One --configs entry: an index spec, optionally ":buffer=F" (re-rank F x ef candidates).
struct QuiverConfig {
  std::string spec;
  std::size_t buffer_factor = 1;
};

QuiverConfig parse_quiver_config(const std::string& entry) {
  const std::size_t colon = entry.find(':');
  if (colon == std::string::npos) return {entry, 1};
  const std::string suffix = entry.substr(colon + 1);
  const std::string key = "buffer=";
  std::size_t factor = 0;
  if (suffix.rfind(key, 0) == 0 && suffix.size() > key.size() &&
      suffix.find_first_not_of("0123456789", key.size()) == std::string::npos) {
    factor = std::stoul(suffix.substr(key.size()));
  }
  if (factor < 1 || factor > 64) {
    throw InvalidArgument("--configs entry '" + entry + "': after the spec only ':buffer=F' is accepted, F in 1..64");
  }
  return {entry.substr(0, colon), factor};
}

enum class Peer { Hnswlib, Faiss };

// Checked before any data is loaded, so a typo fails in a second, not after a conversion.
std::vector<Peer> parse_peers(const std::vector<std::string>& names) {
  std::vector<Peer> peers;
  for (const std::string& name : names) {
    if (name == "hnswlib") {
      peers.push_back(Peer::Hnswlib);
    } else if (name == "faiss") {
      peers.push_back(Peer::Faiss);
    } else if (name != "none") {
      throw InvalidArgument("--peers " + name + " is not a known peer; known: hnswlib, faiss (or none)");
    }
  }
  return peers;
}

std::vector<Contender> make_contenders(const Options& options, const std::vector<Peer>& peers, const Dataset& data,
                                       const Workload& raw, const Workload& peer_workload) {
  std::vector<std::string> specs = split(options.configs, ';');
  if (specs.empty()) specs.push_back(default_spec(options));
  std::vector<Contender> contenders;
  for (const std::string& entry : specs) {
    const QuiverConfig config = parse_quiver_config(entry);
    contenders.push_back({make_quiver_system(IndexSpec::parse(config.spec, data.metric, data.base.cols),
                                             data.train_queries.view(), config.buffer_factor,
                                             options.added_fraction, options.relearn),
                          raw});
  }
  std::vector<std::string> faiss_factories = split(options.faiss_configs, ';');
  if (faiss_factories.empty()) faiss_factories.push_back("HNSW" + std::to_string(options.M) + ",Flat");
  for (const Peer peer : peers) {
    if (peer == Peer::Hnswlib) {
      contenders.push_back({make_hnswlib_system(options.M, options.ef_construction), peer_workload});
      continue;
    }
    for (const std::string& factory : faiss_factories) {
      contenders.push_back({make_faiss_system(factory, options.ef_construction), peer_workload});
    }
  }
  return contenders;
}

int run(const Options& given, const std::string& command) {
  Options options = given;
  if (options.quick) {
    options.max_queries = options.max_queries ? std::min(options.max_queries, quick_queries) : quick_queries;
    options.reps = 1;
  }
  if (options.cache_dir.empty()) {
    throw InvalidArgument("no cache directory: set --cache-dir, QUIVER_CACHE_DIR or HOME");
  }
  const std::vector<Peer> peers = parse_peers(options.peers);
  if (std::find(options.threads.begin(), options.threads.end(), 0) != options.threads.end()) {
    throw InvalidArgument("--threads takes thread counts >= 1 (1 = one query at a time, N = batch on N threads)");
  }
  std::sort(options.efs.begin(), options.efs.end());
  options.efs.erase(std::unique(options.efs.begin(), options.efs.end()), options.efs.end());
  if (options.efs.size() < 8) {
    std::cerr << "note: --efs has " << options.efs.size()
              << " points; BENCH.md asks for at least 8 so that every recall target is bracketed\n";
  }

  const Machine machine = describe_machine();
  const std::size_t cores = std::max<std::size_t>(machine.cores, 1);

  DatasetRequest request;
  request.name_or_path = options.dataset;
  if (!options.queries.empty()) request.queries = options.queries;
  if (!options.train_queries.empty()) request.train_queries = options.train_queries;
  if (!options.groundtruth.empty()) request.ground_truth = options.groundtruth;
  if (!options.metric.empty()) request.metric = parse_metric(options.metric);
  request.cache_dir = options.cache_dir;
  Dataset data = load_dataset(request);
  if (options.max_queries) limit_queries(data, options.max_queries);
  if (options.max_train_queries) limit_train_queries(data, options.max_train_queries);
  std::cerr << data.name << ": " << data.base.rows << " x " << data.base.cols << ", " << data.queries.rows
            << " queries, " << to_string(data.metric) << "\n";
  if (data.train_queries.rows != 0) {
    std::cerr << data.train_queries.rows << " sample queries for the specs that learn from queries\n";
  }

  if (!options.filter_selectivities.empty()) {
    // quiver alone, on the first --configs spec: the peers have no metadata filters.
    const std::vector<std::string> specs = split(options.configs, ';');
    const std::string spec = specs.empty() ? default_spec(options) : parse_quiver_config(specs.front()).spec;
    FilterBenchOptions filter;
    filter.selectivities = options.filter_selectivities;
    filter.efs = options.efs;
    filter.k = options.k;
    filter.reps = std::max<std::size_t>(options.reps, 1);
    filter.threads = cores;
    const auto points = run_filter_bench(data, IndexSpec::parse(spec, data.metric, data.base.cols), filter, std::cerr);
    print_filter_table(std::cout, data.name, options.k, points);
    if (!options.json.empty()) add_filter_json(options.json, data.name, options.k, points);
    return 0;
  }

  if (!options.pq_compare.empty()) {
    PqBenchOptions pq;
    pq.sub_spaces = options.pq_compare;
    pq.bits = options.pq_bits;
    pq.weight_floor = options.pq_weight_floor;
    pq.candidates = options.rerank_candidates;
    pq.k = options.k;
    pq.threads = cores;
    pq.reps = std::max<std::size_t>(options.reps, 1);
    const IntMatrix truth = exact_neighbours(data, std::max(pq.top, pq.k), options.cache_dir, cores);
    print_pq_table(std::cout, data.name, pq, run_pq_bench(data, truth.view(), pq, std::cerr));
    return 0;
  }

  // Cosine peers get unit vectors and the inner product; quiver normalises by itself.
  const Workload raw{data.base.view(), data.queries.view(), data.metric};
  Matrix unit_base;
  Matrix unit_queries;
  Workload peer_workload = raw;
  if (data.metric == Metric::Cosine) {
    unit_base = normalised_rows(data.base.view());
    unit_queries = normalised_rows(data.queries.view());
    peer_workload = {unit_base.view(), unit_queries.view(), Metric::InnerProduct};
  }
  std::vector<Contender> contenders = make_contenders(options, peers, data, raw, peer_workload);

  const IntMatrix truth = exact_neighbours(data, options.k, options.cache_dir, cores);
  const RecallScorer scorer(data, truth.view());

  build_all(contenders, cores);
  SweepOptions sweep;
  sweep.k = options.k;
  sweep.efs = options.efs;
  sweep.thread_modes = options.threads;
  sweep.reps = std::max<std::size_t>(options.reps, 1);
  sweep.counting_threads = cores;
  const std::vector<SweepPoint> points = run_sweep(contenders, scorer, sweep);

  RunInfo info;
  info.dataset = data.name;
  info.n = data.base.rows;
  info.nq = data.queries.rows;
  info.dim = data.base.cols;
  info.metric = to_string(data.metric);
  info.k = options.k;
  info.thread_modes = options.threads;
  info.machine = machine;
  info.M = options.M;
  info.ef_construction = options.ef_construction;
  info.build_threads = cores;
  info.reps = sweep.reps;
  info.quick = options.quick;
  info.command = command;

  const std::vector<RecallThreshold> thresholds = qps_at_recall(points);
  print_table(std::cout, info, points);
  print_qps_at_recall(std::cout, thresholds);
  if (!options.json.empty()) write_json(options.json, info, points, thresholds);
  if (!options.plot_data.empty()) write_plot_data(options.plot_data, info, points);
  return 0;
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  using quiver::bench::Options;
  Options options;
  options.cache_dir = quiver::bench::default_cache_dir();

  std::string known;
  for (const std::string& name : quiver::bench::known_dataset_names()) known += (known.empty() ? "" : ", ") + name;

  CLI::App app{"quiver-bench: recall@k vs QPS, latency, build time and memory for quiver, hnswlib and FAISS"};
  app.add_option("--dataset", options.dataset, "named set (" + known + ") or a vector file (fvecs/fbin/npy/IDX/.hdf5)")
      ->required();
  app.add_option("--queries", options.queries, "query vectors, when --dataset is a vector file");
  app.add_option("--metric", options.metric, "l2, ip or cosine (default: the data set's own)");
  app.add_option("--k", options.k, "neighbours per query")->capture_default_str();
  app.add_option("--threads", options.threads,
                 "1 = one search call per query (latency percentiles); N > 1 = one batch on N threads; "
                 "a list (1,2) runs each mode")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--json", options.json, "write the BENCH.md JSON document here");
  app.add_option("--configs", options.configs, "quiver specs separated by ';' (default hnsw<M>,efc<ef-construction>,f32); "
                 "a spec may end in :buffer=F to re-rank F x ef candidates");
  app.add_option("--faiss-configs", options.faiss_configs,
                 "FAISS index_factory strings separated by ';' (default HNSW<M>,Flat), e.g. "
                 "\"HNSW32,Flat;PCA160,HNSW32_SQ8;IVF1024,Flat\"");
  app.add_option("--peers", options.peers, "peers to compare with: hnswlib, faiss, or none")
      ->delimiter(',')
      ->capture_default_str();
  app.add_flag("--quick", options.quick, "at most 1000 queries and one repetition: a check, not a result");
  app.add_option("--train-queries", options.train_queries, "sample queries for OOD training");
  app.add_option("--groundtruth", options.groundtruth, "exact neighbour ids (ivecs/ibin), else computed and cached");
  app.add_option("--M", options.M, "graph degree for quiver's default spec, hnswlib and FAISS")->capture_default_str();
  app.add_option("--ef-construction", options.ef_construction, "build search window for all systems")
      ->capture_default_str();
  app.add_option("--efs", options.efs, "search windows to sweep")->delimiter(',')->capture_default_str();
  app.add_option("--reps", options.reps, "repetitions per point; the best is kept")->capture_default_str();
  app.add_option("--cache-dir", options.cache_dir, "converted data sets and ground truth")->capture_default_str();
  app.add_option("--plot-data", options.plot_data, "write one .dat per curve here, for bench/plot");
  app.add_option("--max-queries", options.max_queries, "use only the first N queries (0 = all)");
  app.add_option("--max-train-queries", options.max_train_queries,
                 "use only the first N sample queries for OOD training (0 = all)");
  app.add_option("--added-fraction", options.added_fraction,
                 "quiver indexes are built on the rest of the base, then take this last fraction through add(), "
                 "1000 rows at a time (the peers build on all of it); 1: quiver indexes start empty")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--relearn", options.relearn,
               "after the adds, compact() quiver indexes: an attention graph is learned again from its sample "
               "queries");
  app.add_option("--filter-selectivities", options.filter_selectivities,
                 "run the filtered-search benchmark instead of the sweep: random attributes, one filter per "
                 "allowed fraction (e.g. 0.5,0.1,0.01,0.001), recall and QPS of quiver's filtered search")
      ->delimiter(',');
  app.add_option("--pq-compare", options.pq_compare,
                 "compare query-aware with plain product quantization at these sub-space counts (e.g. 16,32,64) "
                 "instead of the sweep: top-100 score error, recall@k after re-ranking, scan QPS")
      ->delimiter(',');
  app.add_option("--pq-bits", options.pq_bits, "--pq-compare sub-code width: 8 or 4 (fast scan)")
      ->check(CLI::IsMember({8u, 4u}))
      ->capture_default_str();
  app.add_option("--pq-weight-floor", options.pq_weight_floor,
                 "--pq-compare score-aware row: each key's k-means weight is this times the mean retrieval count, "
                 "plus its own count")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--rerank-candidates", options.rerank_candidates,
                 "--pq-compare: candidates re-ranked exactly per query")
      ->delimiter(',')
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    return quiver::bench::run(options, quiver::bench::command_line(argc, argv));
  } catch (const std::exception& error) {
    std::cerr << "quiver-bench: " << error.what() << "\n";
    return 1;
  }
}
