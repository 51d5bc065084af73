// `quiver build`: reads a vector file, builds an index with a progress bar, saves it
// to a directory and prints what was built.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "command.h"
#include "dataset_input.h"
#include "progress_bar.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "quiver/index_spec.h"
#include "quiver/metric.h"
#include "text_format.h"

namespace quiver::cli {
namespace {

struct BuildArgs {
  std::filesystem::path input;
  std::string metric;
  std::string spec = "hnsw32,efc200,f32";
  std::filesystem::path output;
  std::filesystem::path sample_queries;
  std::size_t threads = 0;
  std::size_t max_rows = 0;
  std::uint64_t seed = 100;
};

// Refuses to write into a directory that holds something other than a quiver index,
// so a typo in --output cannot clobber unrelated files. An existing index is replaced.
void check_output(const std::filesystem::path& output) {
  std::error_code ec;
  const auto status = std::filesystem::status(output, ec);
  if (!std::filesystem::exists(status)) return;
  if (!std::filesystem::is_directory(status)) {
    throw InvalidArgument("--output '" + output.string() + "' exists and is not a directory");
  }
  const bool empty = std::filesystem::directory_iterator(output, ec) == std::filesystem::directory_iterator();
  if (!empty && !std::filesystem::exists(output / "manifest.json")) {
    throw InvalidArgument("--output '" + output.string() +
                          "' is a non-empty directory without a quiver index (no manifest.json); "
                          "choose a new or empty directory");
  }
}

int run_build(const BuildArgs& args) {
  require_file(args.input, "input");
  const bool hdf5 = is_hdf5(args.input);
  std::optional<Metric> metric;
  if (!args.metric.empty()) {
    metric = parse_metric(args.metric);
  } else if (!hdf5) {
    throw InvalidArgument("--metric is required for '" + args.input.string() +
                          "' (l2, ip or cosine; only .hdf5 files name their own metric)");
  }
  // Spec errors surface now, not after reading a large file; the real dim comes later.
  const IndexSpec early = IndexSpec::parse(args.spec, metric.value_or(Metric::InnerProduct), IndexSpec::max_dim);
  if (early.needs_sample_queries() && args.sample_queries.empty()) {
    throw InvalidArgument("spec '" + args.spec + "' learns from queries: pass --sample-queries FILE");
  }
  if (!args.sample_queries.empty()) require_file(args.sample_queries, "sample queries");
  check_output(args.output);

  const auto read_start = std::chrono::steady_clock::now();
  VectorInput input = read_vector_input(args.input, Hdf5Part::Train, args.max_rows == 0 ? all_rows : args.max_rows);
  if (!metric) {
    if (!input.metric) {
      throw InvalidArgument("'" + args.input.string() + "' has distance '" + input.distance +
                            "', which quiver does not support; pass --metric l2, ip or cosine");
    }
    metric = input.metric;
  }
  const Matrix& data = input.vectors;
  if (data.rows == 0) throw InvalidArgument("'" + args.input.string() + "' holds no vectors");
  std::fprintf(stderr, "read %s vectors of dim %zu from %s in %s\n", format_count(data.rows).c_str(), data.cols,
               args.input.string().c_str(), format_duration(seconds_since(read_start)).c_str());

  const IndexSpec spec = IndexSpec::parse(args.spec, *metric, data.cols);
  const std::size_t threads = args.threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : args.threads;

  double build_seconds = 0;
  std::optional<Index> index;
  {
    ProgressBar bar("building", "vectors");
    BuildOptions options;
    options.threads = threads;
    options.seed = args.seed;
    options.progress = bar.callback();
    Matrix sample_queries;
    if (!args.sample_queries.empty()) {
      sample_queries = read_vector_input(args.sample_queries, Hdf5Part::Test, all_rows).vectors;
      options.sample_queries = sample_queries;
    }
    try {
      index.emplace(Index::build(spec, data, {}, options));
    } catch (const Cancelled& cancelled) {
      throw Cancelled(std::string(cancelled.what()) + "; nothing was written to " + args.output.string());
    }
    bar.finish();
    build_seconds = bar.elapsed_seconds();
  }

  const auto save_start = std::chrono::steady_clock::now();
  index->save(args.output);
  const double save_seconds = seconds_since(save_start);

  std::printf("built %s (%s): %s vectors of dim %zu in %s (%s vectors/s on %zu threads)\n",
              spec.to_string().c_str(), to_string(spec.metric).c_str(), format_count(index->size()).c_str(),
              spec.dim, format_duration(build_seconds).c_str(),
              format_rate(static_cast<double>(data.rows) / std::max(build_seconds, 1e-9)).c_str(), threads);
  std::printf("memory: %s (%.1f MB, vectors + graph); %zu bytes per vector walked, %zu re-ranked\n",
              format_bytes(index->memory_bytes()).c_str(), static_cast<double>(index->memory_bytes()) / 1e6,
              index->primary_code_bytes(), index->rerank_code_bytes());
  std::printf("saved to %s in %s\n", args.output.string().c_str(), format_duration(save_seconds).c_str());
  return 0;
}

}  // namespace

Command add_build_command(CLI::App& app) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* cmd = app.add_subcommand("build", "Build an index from a vector file and save it to a directory.");
  cmd->add_option("INPUT", args->input,
                  "Vector file, format by extension: .fvecs .bvecs .fbin\n"
                  ".u8bin .npy, IDX images (-ubyte, .gz as Fashion-MNIST\n"
                  "ships), ann-benchmarks .hdf5 (its `train` set)")
      ->type_name("FILE")
      ->required();
  cmd->add_option("-m,--metric", args->metric,
                  "l2 (squared Euclidean), ip (inner product) or cosine.\n"
                  "Required unless INPUT is .hdf5: then its `distance`\n"
                  "attribute decides (euclidean, angular, dot)")
      ->type_name("NAME");
  cmd->add_option("-s,--spec", args->spec,
                  "Index spec, comma-separated: hnsw<M> (graph degree),\n"
                  "efc<N> (build search window); storage f32 | f16 |\n"
                  "lvq8 | lvq4 | lvq4x8; leanvec<d> | leanvec-ood<d>\n"
                  "(reduce to d dims); rerank=f32|f16|lvq8|none")
      ->type_name("SPEC")
      ->capture_default_str();
  cmd->add_option("-o,--output", args->output,
                  "Directory to write the index to; created if needed,\n"
                  "an index already there is replaced")
      ->type_name("DIR")
      ->required();
  cmd->add_option("--sample-queries", args->sample_queries,
                  "Vectors from the query distribution (any vector format),\n"
                  "needed by leanvec-ood<d>; keep them apart from the\n"
                  "queries you evaluate with")
      ->type_name("FILE");
  cmd->add_option("-t,--threads", args->threads, "Build threads, 0 = all cores")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("--max-rows", args->max_rows, "Use only the first N vectors of INPUT, 0 = all")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the HNSW level generator")
      ->type_name("N")
      ->capture_default_str();
  cmd->footer(
      "Example:\n"
      "  quiver build /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \\\n"
      "      --metric l2 --spec hnsw32,efc200,f32 --output fmnist.idx\n"
      "  quiver build glove-100-angular.hdf5 --output glove.idx   # metric from the file\n"
      "  quiver build keys.fbin --metric ip --spec hnsw32,leanvec-ood64,lvq8 \\\n"
      "      --sample-queries queries_train.fbin --output keys.idx\n"
      "\n"
      "Larger M and efc give higher recall at the same search ef, for a slower build and\n"
      "more memory; f16 halves vector memory, lvq8 quarters it, and LeanVec shrinks\n"
      "the walked vectors further while re-ranking at full dimension. Press Ctrl-C to cancel a build cleanly.");
  return {cmd, [args] { return run_build(*args); }};
}

}  // namespace quiver::cli
