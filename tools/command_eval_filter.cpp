// `quiver eval-filter`: measures a trained relevance filter against the cut-off baselines
// on held-out queries. Replays the data pipeline recorded by `quiver train-filter` (files,
// centring, metric, k), tunes every method on the training queries, and prints precision,
// recall, F1 and result-list size at one common recall, PR-AUC, and the calibration table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "dataset_input.h"
#include "quiver/error.h"
#include "quiver/relevance_filter.h"
#include "query_rows.h"
#include "text_format.h"

namespace quiver::cli {
namespace {

struct EvalFilterArgs {
  std::filesystem::path model;
  std::string eval_queries = "5000:10000";
  std::string tune_queries;  // default: the training queries
  std::filesystem::path json;
  std::size_t threads = 0;
  // Default: what train-filter recorded.
  std::filesystem::path base, queries, labels_base, labels_queries;
};

// The train-filter record, or an empty object for a filter trained some other way.
nlohmann::json training_record(const RelevanceFilter& filter) {
  const auto record = nlohmann::json::parse(filter.provenance(), nullptr, /*allow_exceptions=*/false);
  return record.is_object() ? record : nlohmann::json::object();
}

std::filesystem::path pick(const std::filesystem::path& given, const nlohmann::json& record, const char* key,
                           const char* option) {
  if (!given.empty()) return given;
  if (record.contains(key)) return record[key].get<std::string>();
  throw InvalidArgument(std::string("the filter carries no train-filter record of its data: give ") + option);
}

std::string machine_description() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return model + ", " + std::to_string(std::max(1u, std::thread::hardware_concurrency())) + " threads";
}

nlohmann::json matched_recall_json(const std::vector<PrecisionAtRecall>& points) {
  nlohmann::json out = nlohmann::json::array();
  for (const PrecisionAtRecall& p : points) {
    out.push_back({{"recall", p.recall}, {"adapter_precision", p.adapter_precision}, {"raw_precision", p.raw_precision}});
  }
  return out;
}

nlohmann::json method_json(const RelevanceMethodResult& m) {
  nlohmann::json j = {{"precision", m.precision}, {"recall", m.recall},       {"f1", m.f1},
                      {"mean_returned", m.mean_returned}, {"setting", m.parameter}, {"ece", nullptr}};
  if (m.ece) j["ece"] = *m.ece;
  return j;
}

void print_report(const RelevanceReport& report, const RelevanceFilter& filter, const std::string& dataset,
                  const std::string& tune, const std::string& eval) {
  std::printf("%s, %s, k=%zu: %s eval pairs (queries %s), %.1f%% relevant\n", dataset.c_str(),
              to_string(filter.metric()).c_str(), filter.training_k(), format_count(report.pairs).c_str(),
              eval.c_str(), 100.0 * static_cast<double>(report.relevant_pairs) / static_cast<double>(report.pairs));
  std::printf("recall target %.4f: what the best-F1 global raw-score threshold (tuned on queries %s) reaches\n\n",
              report.recall_target, tune.c_str());
  std::printf("%-18s %9s %7s %7s %9s %6s  %s\n", "method", "precision", "recall", "F1", "returned", "ECE",
              "setting (tuned on the training queries)");
  const auto row = [](const RelevanceMethodResult& m, const std::string& name) {
    char ece[16] = "-";
    if (m.ece) std::snprintf(ece, sizeof ece, "%.4f", *m.ece);
    std::printf("%-18s %9.4f %7.4f %7.4f %9.2f %6s  %s\n", name.c_str(), m.precision, m.recall, m.f1, m.mean_returned, ece,
                m.parameter.c_str());
  };
  for (const auto& m : report.methods) row(m, m.name);
  row(report.adapter_at_half, "adapter @ 0.5");

  const RelevanceMethodResult& adapter = report.methods.front();
  const RelevanceMethodResult& global = report.methods[1];
  std::printf("\nadapter vs global threshold: precision %+.2f points at recall %.4f / %.4f\n",
              100 * (adapter.precision - global.precision), adapter.recall, global.recall);
  std::printf("\n%-18s %7s %7s\n", "ranking of pairs", "PR-AUC", "P@R95");
  std::printf("%-18s %7.4f %7.4f\n", "adapter", report.adapter_pr_auc, report.adapter_p_at_r95);
  std::printf("%-18s %7.4f %7.4f\n", "raw score", report.raw_pr_auc, report.raw_p_at_r95);

  std::printf("\none global threshold, set on the eval pairs to reach each recall\n");
  std::printf("%-8s %17s %17s %8s\n", "recall", "adapter precision", "raw precision", "points");
  for (const PrecisionAtRecall& point : report.matched_recall) {
    std::printf("%-8.2f %17.4f %17.4f %+8.2f\n", point.recall, point.adapter_precision, point.raw_precision,
                100 * (point.adapter_precision - point.raw_precision));
  }

  std::printf("\nreliability of the adapter on the eval queries (ECE %.4f)\n", report.ece);
  std::printf("%-12s %9s %10s %9s\n", "predicted", "pairs", "mean pred", "observed");
  for (const ReliabilityBin& bin : report.reliability) {
    char range[32];
    std::snprintf(range, sizeof range, "[%.1f, %.1f%c", bin.lower, bin.upper, bin.upper >= 1.0 ? ']' : ')');
    if (bin.count == 0) {
      std::printf("%-12s %9s %10s %9s\n", range, "0", "-", "-");
    } else {
      std::printf("%-12s %9s %10.4f %9.4f\n", range, format_count(bin.count).c_str(), bin.mean_predicted,
                  bin.observed);
    }
  }
}

int run_eval_filter(const EvalFilterArgs& args) {
  require_file(args.model, "filter");
  const RelevanceFilter filter = RelevanceFilter::load(args.model);
  const nlohmann::json record = training_record(filter);
  const auto base_path = pick(args.base, record, "base", "--base");
  const auto queries_path = pick(args.queries, record, "queries", "--queries");
  const auto labels_base_path = pick(args.labels_base, record, "labels_base", "--labels-base");
  const auto labels_queries_path = pick(args.labels_queries, record, "labels_queries", "--labels-queries");
  const bool center = record.value("center", false);
  std::string tune = args.tune_queries;
  if (tune.empty()) tune = record.value("train_queries", std::string());
  if (tune.empty()) throw InvalidArgument("the filter carries no record of its training queries: give --tune-queries");
  const std::string dataset = record.value("dataset", base_path.stem().string());

  require_file(base_path, "base");
  require_file(queries_path, "queries");
  require_file(labels_base_path, "base labels");
  require_file(labels_queries_path, "query labels");
  const auto read_start = std::chrono::steady_clock::now();
  Matrix base = read_vector_input(base_path, Hdf5Part::Train).vectors;
  Matrix queries = read_vector_input(queries_path, Hdf5Part::Test).vectors;
  std::vector<std::int32_t> base_labels = read_labels(labels_base_path);
  const std::vector<std::int32_t> query_labels = read_labels(labels_queries_path);
  if (queries.cols != filter.dim() || base.cols != filter.dim()) {
    throw InvalidArgument("the filter expects dimension " + std::to_string(filter.dim()) + ", but base and queries have " +
                          std::to_string(base.cols) + " and " + std::to_string(queries.cols));
  }
  if (query_labels.size() != queries.rows) {
    throw InvalidArgument("'" + labels_queries_path.string() + "' holds " + std::to_string(query_labels.size()) +
                          " labels for " + std::to_string(queries.rows) + " queries");
  }
  const std::string base_classes = record.value("base_classes", std::string());
  if (!base_classes.empty()) {
    keep_base_classes(base, base_labels, parse_class_list(base_classes, "the filter's base_classes"));
  }
  if (center) center_by_base_mean(base, queries);
  std::fprintf(stderr, "read %s base vectors and %s queries in %s%s\n", format_count(base.rows).c_str(),
               format_count(queries.rows).c_str(), format_duration(seconds_since(read_start)).c_str(),
               center ? ", centred by the base mean" : "");

  const auto labelled = [&](const std::string& text, const char* option) {
    const RowRange range = parse_range(text, option, queries.rows);
    const auto start = std::chrono::steady_clock::now();
    RelevanceTrainingSet set = label_by_class(base, base_labels, queries.view().slice(range.first, range.last - range.first),
                                              std::span(query_labels).subspan(range.first, range.last - range.first),
                                              filter.training_k(), filter.metric(), args.threads);
    std::fprintf(stderr, "exact top-%zu of queries %s in %s\n", filter.training_k(), text.c_str(),
                 format_duration(seconds_since(start)).c_str());
    return set;
  };
  const RelevanceTrainingSet tuning = labelled(tune, "--tune-queries");
  const RelevanceTrainingSet evaluation = labelled(args.eval_queries, "--eval-queries");
  const RelevanceReport report = evaluate_relevance(filter, tuning, evaluation);
  print_report(report, filter, dataset, tune, args.eval_queries);

  if (!args.json.empty()) {
    nlohmann::json document = {
        {"dataset", dataset},
        {"metric", to_string(filter.metric())},
        {"center", center},
        {"base_classes", base_classes},
        {"k", filter.training_k()},
        {"map", to_string(filter.options().map)},
        {"tune_queries", tune},
        {"eval_queries", args.eval_queries},
        {"pairs", report.pairs},
        {"relevant_fraction", static_cast<double>(report.relevant_pairs) / static_cast<double>(report.pairs)},
        {"recall_target", report.recall_target},
        {"adapter_at_0.5", method_json(report.adapter_at_half)},
        {"pr_auc", {{"adapter", report.adapter_pr_auc}, {"raw", report.raw_pr_auc}}},
        {"p_at_r95", {{"adapter", report.adapter_p_at_r95}, {"raw", report.raw_p_at_r95}}},
        {"matched_recall", matched_recall_json(report.matched_recall)},
        {"machine", machine_description()},
        {"training", {{"best_epoch", filter.training_summary().best_epoch},
                      {"epochs", filter.training_summary().epochs},
                      {"validation_loss", filter.training_summary().validation_loss}}}};
    for (const auto& m : report.methods) document[m.name] = method_json(m);
    nlohmann::json bins = nlohmann::json::array();
    for (const ReliabilityBin& bin : report.reliability) {
      bins.push_back({{"lower", bin.lower}, {"upper", bin.upper}, {"count", bin.count},
                      {"mean_predicted", bin.mean_predicted}, {"observed", bin.observed}});
    }
    document["reliability"] = bins;
    std::ofstream out(args.json);
    out << document.dump(2) << "\n";
    if (!out) throw IoError("cannot write --json '" + args.json.string() + "'");
    std::fprintf(stderr, "wrote %s\n", args.json.string().c_str());
  }
  return 0;
}

}  // namespace

Command add_eval_filter_command(CLI::App& app) {
  auto args = std::make_shared<EvalFilterArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval-filter", "Measure a relevance filter against cut-off baselines on held-out queries.");
  cmd->add_option("FILTER", args->model, "Filter file written by `quiver train-filter`")->type_name("FILE")->required();
  cmd->add_option("--eval-queries", args->eval_queries, "Query rows to evaluate on, FIRST:LAST (LAST excluded)")
      ->type_name("RANGE")
      ->capture_default_str();
  cmd->add_option("--tune-queries", args->tune_queries,
                  "Query rows the baselines and thresholds are tuned on\n(default: the filter's training queries)")
      ->type_name("RANGE");
  cmd->add_option("--json", args->json, "Also write the results as JSON (see BENCH.md)")->type_name("FILE");
  cmd->add_option("-t,--threads", args->threads, "Exact-search threads, 0 = all cores")->type_name("N")->capture_default_str();
  cmd->add_option("--base", args->base, "Base vectors (default: those the filter was trained on)")->type_name("FILE");
  cmd->add_option("--queries", args->queries, "Query vectors (default: as trained)")->type_name("FILE");
  cmd->add_option("--labels-base", args->labels_base, "Base classes (default: as trained)")->type_name("FILE");
  cmd->add_option("--labels-queries", args->labels_queries, "Query classes (default: as trained)")->type_name("FILE");
  cmd->footer(
      "Every method is compared at the recall that the best-F1 global raw-score threshold\n"
      "reaches on the eval queries; each is tuned on the training queries to reach it.\n"
      "Baselines: global threshold, fixed top-k, within a margin of the top score,\n"
      "per-query z-score, largest score gap, Platt scaling, isotonic regression.\n"
      "\n"
      "Example:\n"
      "  quiver train-filter --metric l2 --output fmnist-l2.filter\n"
      "  quiver eval-filter fmnist-l2.filter --eval-queries 5000:10000 --json l2.json");
  return {cmd, [args] { return run_eval_filter(*args); }};
}

}  // namespace quiver::cli
