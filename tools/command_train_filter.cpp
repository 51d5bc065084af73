// `quiver train-filter`: trains a relevance filter (the Cosine Adapter) on labelled
// results. Retrieves each training query's top-k from the base vectors by exact search,
// labels a hit relevant when it shares the query's class, trains, and saves the model with
// a record of the data pipeline that `quiver eval-filter` replays.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "dataset_input.h"
#include "quiver/error.h"
#include "quiver/relevance_filter.h"
#include "quiver/vector_io.h"
#include "query_rows.h"
#include "text_format.h"

namespace quiver::cli {
namespace {

const std::filesystem::path fashion_mnist = QUIVER_FASHION_MNIST_DIR;

struct TrainFilterArgs {
  std::filesystem::path base = fashion_mnist / "train-images-idx3-ubyte.gz";
  std::filesystem::path queries = fashion_mnist / "t10k-images-idx3-ubyte.gz";
  std::filesystem::path labels_base = fashion_mnist / "train-labels-idx1-ubyte.gz";
  std::filesystem::path labels_queries = fashion_mnist / "t10k-labels-idx1-ubyte.gz";
  std::string metric = "l2";
  bool center = false;
  std::size_t k = 100;
  std::string train_queries = "0:5000";
  std::string base_classes;  // empty: every class
  std::filesystem::path output;
  std::string map = "linear";
  std::string features = "query,scores";
  std::size_t threads = 0;
  RelevanceOptions options;
};

std::string dataset_name(const TrainFilterArgs& args, std::size_t dim) {
  if (args.base == fashion_mnist / "train-images-idx3-ubyte.gz") return "fashion-mnist-" + std::to_string(dim);
  return args.base.stem().string();
}

int run_train_filter(TrainFilterArgs args) {
  if (args.output.empty()) throw InvalidArgument("--output is required: the file to save the trained filter to");
  const Metric metric = parse_metric(args.metric);
  args.options.map = parse_relevance_map(args.map);
  if (args.features == "query,scores" || args.features == "scores,query") {
    args.options.use_query = args.options.use_score_features = true;
  } else if (args.features == "query" || args.features == "scores") {
    args.options.use_query = args.features == "query";
    args.options.use_score_features = args.features == "scores";
  } else {
    throw InvalidArgument("--features '" + args.features + "': expected query, scores or query,scores");
  }
  require_file(args.base, "base");
  require_file(args.queries, "queries");
  require_file(args.labels_base, "base labels");
  require_file(args.labels_queries, "query labels");

  const auto read_start = std::chrono::steady_clock::now();
  Matrix base = read_vector_input(args.base, Hdf5Part::Train).vectors;
  Matrix queries = read_vector_input(args.queries, Hdf5Part::Test).vectors;
  std::vector<std::int32_t> base_labels = read_labels(args.labels_base);
  const std::vector<std::int32_t> query_labels = read_labels(args.labels_queries);
  if (queries.cols != base.cols) {
    throw InvalidArgument("queries have dimension " + std::to_string(queries.cols) + " but the base vectors " +
                          std::to_string(base.cols));
  }
  if (query_labels.size() != queries.rows) {
    throw InvalidArgument("'" + args.labels_queries.string() + "' holds " + std::to_string(query_labels.size()) +
                          " labels for " + std::to_string(queries.rows) + " queries");
  }
  if (!args.base_classes.empty()) {
    keep_base_classes(base, base_labels, parse_class_list(args.base_classes, "--base-classes"));
  }
  if (args.center) center_by_base_mean(base, queries);
  const RowRange range = parse_range(args.train_queries, "--train-queries", queries.rows);
  const MatrixView train = queries.view().slice(range.first, range.last - range.first);
  std::fprintf(stderr, "read %s base vectors and %s queries of dim %zu in %s\n", format_count(base.rows).c_str(),
               format_count(queries.rows).c_str(), base.cols, format_duration(seconds_since(read_start)).c_str());

  const auto search_start = std::chrono::steady_clock::now();
  RelevanceTrainingSet set = label_by_class(
      base, base_labels, train,
      std::span(query_labels).subspan(range.first, range.last - range.first), args.k, metric, args.threads);
  std::fprintf(stderr, "exact top-%zu of %s training queries in %s\n", args.k, format_count(train.rows).c_str(),
               format_duration(seconds_since(search_start)).c_str());

  // The pipeline eval-filter replays: same files, preprocessing, metric and depth.
  set.provenance = nlohmann::json{{"tool", "quiver train-filter"},
                                  {"dataset", dataset_name(args, base.cols)},
                                  {"base", std::filesystem::absolute(args.base).string()},
                                  {"queries", std::filesystem::absolute(args.queries).string()},
                                  {"labels_base", std::filesystem::absolute(args.labels_base).string()},
                                  {"labels_queries", std::filesystem::absolute(args.labels_queries).string()},
                                  {"metric", to_string(metric)},
                                  {"center", args.center},
                                  {"k", args.k},
                                  {"train_queries", args.train_queries},
                                  {"base_classes", args.base_classes}}
                       .dump();

  std::size_t pairs = 0;
  for (const auto& hits : set.hits) pairs += hits.size();
  const auto train_start = std::chrono::steady_clock::now();
  const RelevanceFilter filter = RelevanceFilter::train(set, args.options);
  const RelevanceTrainingSummary& summary = filter.training_summary();
  filter.save(args.output);

  std::printf("trained a %s relevance filter (%s, k=%zu%s) on queries %s: %s pairs, %.1f%% relevant\n",
              args.map.c_str(), to_string(metric).c_str(), args.k, args.center ? ", centred" : "",
              args.train_queries.c_str(), format_count(pairs).c_str(),
              100 * summary.positive_rate);
  std::printf("%zu fit + %zu validation queries, best epoch %zu of %zu, cross-entropy %.4f (fit) %.4f (validation), %s\n",
              summary.fit_queries, summary.validation_queries, summary.best_epoch, summary.epochs, summary.fit_loss,
              summary.validation_loss, format_duration(seconds_since(train_start)).c_str());
  std::printf("saved to %s\n\nNext: quiver eval-filter %s --eval-queries %zu:%zu\n", args.output.string().c_str(),
              args.output.string().c_str(), range.last, queries.rows);
  return 0;
}

}  // namespace

Command add_train_filter_command(CLI::App& app) {
  auto args = std::make_shared<TrainFilterArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train-filter", "Train a relevance filter (Cosine Adapter) that cuts result lists by a probability of relevance.");
  cmd->add_option("--base", args->base, "Base vectors searched (any vector file)")->type_name("FILE")->capture_default_str();
  cmd->add_option("--queries", args->queries, "Query vectors (any vector file)")->type_name("FILE")->capture_default_str();
  cmd->add_option("--labels-base", args->labels_base,
                  "Class of each base vector, one integer per row (IDX\nlabels, one-column .ivecs/.ibin/.npy, or .txt);\n"
                  "a hit is relevant when its class equals the query's")
      ->type_name("FILE")
      ->capture_default_str();
  cmd->add_option("--labels-queries", args->labels_queries, "Class of each query, one integer per row")
      ->type_name("FILE")
      ->capture_default_str();
  cmd->add_option("--base-classes", args->base_classes,
                  "Keep only base vectors of these classes (e.g. 0,2,4,6,8):\nqueries of the others then have no "
                  "relevant result,\nthe open-set case (default: every class)")
      ->type_name("LIST");
  cmd->add_option("-m,--metric", args->metric, "l2, ip or cosine")->type_name("METRIC")->capture_default_str();
  cmd->add_flag("--center", args->center, "Subtract the base vectors' mean from base and queries\nfirst (use with cosine on pixels)");
  cmd->add_option("-k,--k", args->k, "Results retrieved per query, the list the filter cuts")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{2}, std::size_t{10000}).description(""))
      ->capture_default_str();
  cmd->add_option("--train-queries", args->train_queries, "Query rows to train on, FIRST:LAST (LAST excluded)")
      ->type_name("RANGE")
      ->capture_default_str();
  cmd->add_option("-o,--output", args->output, "File to save the trained filter to (JSON)")->type_name("FILE")->required();
  cmd->add_option("--map", args->map, "Score map family: linear, power or quadratic")->type_name("FAMILY")->capture_default_str();
  cmd->add_option("--features", args->features,
                  "Network inputs: query (the paper's adapter), scores (the\ntop-k score distribution) or query,scores")
      ->type_name("LIST")
      ->capture_default_str();
  cmd->add_option("--hidden", args->options.hidden_units, "Hidden units")->type_name("N")->capture_default_str();
  cmd->add_option("--pca", args->options.pca_dims, "Reduce wider queries to N PCA dimensions, 0 = never")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("--epochs", args->options.max_epochs, "Maximum training epochs")->type_name("N")->capture_default_str();
  cmd->add_option("--patience", args->options.patience, "Stop after N epochs without validation improvement")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("--learning-rate", args->options.learning_rate, "Adam step size")->type_name("X")->capture_default_str();
  cmd->add_option("--l2", args->options.l2, "Weight decay")->type_name("X")->capture_default_str();
  cmd->add_option("--seed", args->options.seed, "Seed of the initial weights and the batch order")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Exact-search threads, 0 = all cores")->type_name("N")->capture_default_str();
  cmd->footer(
      "Without --base/--queries/--labels-* it uses Fashion-MNIST (60,000 base images,\n"
      "10,000 queries; relevant = same clothing class). L2 scores enter the filter as\n"
      "-sqrt(distance). Training takes seconds; the exact search most of the time.\n"
      "\n"
      "Example:\n"
      "  quiver train-filter --metric cosine --center --k 100 --train-queries 0:5000 \\\n"
      "      --output fmnist-cosine.filter\n"
      "  quiver eval-filter fmnist-cosine.filter --eval-queries 5000:10000");
  return {cmd, [args] { return run_train_filter(*args); }};
}

}  // namespace quiver::cli
