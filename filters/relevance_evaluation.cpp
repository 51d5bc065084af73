// quiver::evaluate_relevance: the adapter against every baseline at one recall, the one
// that the best global raw-score threshold reaches, so that precision is compared like
// for like. Parameters (thresholds, k, min rank) are tuned on the tuning set only.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "filters/relevance_baselines.h"
#include "filters/relevance_metrics.h"
#include "filters/scored_query.h"
#include "quiver/error.h"
#include "quiver/relevance_filter.h"

namespace quiver {
namespace {

using filters::CutOutcome;
using filters::ScoredQuery;

// All pairs of one set, query after query.
struct PooledSet {
  std::vector<ScoredQuery> queries;
  std::vector<double> scores;     // raw similarities
  std::vector<double> relevance;  // the adapter's output
  std::vector<std::uint8_t> labels;
};

PooledSet pool(const RelevanceFilter& filter, const RelevanceTrainingSet& set, const char* role) {
  PooledSet out;
  out.queries = filters::scored_queries(set);
  for (std::size_t q = 0; q < out.queries.size(); ++q) {
    const std::vector<float> r = filter.relevance(set.queries.row(q), set.hits[q], set.metric);
    out.relevance.insert(out.relevance.end(), r.begin(), r.end());
    out.scores.insert(out.scores.end(), out.queries[q].scores.begin(), out.queries[q].scores.end());
    out.labels.insert(out.labels.end(), out.queries[q].labels.begin(), out.queries[q].labels.end());
  }
  if (std::find(out.labels.begin(), out.labels.end(), std::uint8_t{1}) == out.labels.end()) {
    throw InvalidArgument(std::string("the ") + role + " set has no relevant hits: recall is undefined");
  }
  return out;
}

// A per-query decision score for every pair of the set, query after query.
std::vector<double> per_query(const PooledSet& set, const std::function<std::vector<double>(const ScoredQuery&)>& rule) {
  std::vector<double> out;
  out.reserve(set.scores.size());
  for (const ScoredQuery& query : set.queries) {
    const std::vector<double> scores = rule(query);
    out.insert(out.end(), scores.begin(), scores.end());
  }
  return out;
}

std::string format(const char* pattern, double value) {
  char text[96];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

// The raw-score threshold in the units of Hit::score.
std::string raw_threshold_text(double similarity, Metric metric) {
  if (metric == Metric::L2) return format("squared distance <= %.6g", similarity * similarity);
  return format(metric == Metric::Cosine ? "cosine >= %.6g" : "inner product >= %.6g", similarity);
}

RelevanceMethodResult result(std::string name, std::string parameter, const CutOutcome& outcome) {
  RelevanceMethodResult r;
  r.name = std::move(name);
  r.parameter = std::move(parameter);
  r.precision = outcome.precision;
  r.recall = outcome.recall;
  r.f1 = outcome.f1;
  r.mean_returned = outcome.mean_returned;
  return r;
}

}  // namespace

RelevanceReport evaluate_relevance(const RelevanceFilter& filter, const RelevanceTrainingSet& tuning,
                                   const RelevanceTrainingSet& evaluation) {
  const PooledSet tune = pool(filter, tuning, "tuning");
  const PooledSet eval = pool(filter, evaluation, "evaluation");
  const std::size_t eval_queries = eval.queries.size();
  RelevanceReport report;
  report.queries = eval_queries;
  report.pairs = eval.labels.size();
  report.relevant_pairs = static_cast<std::size_t>(std::count(eval.labels.begin(), eval.labels.end(), std::uint8_t{1}));

  const double global = filters::best_f1_threshold(tune.scores, tune.labels);
  const CutOutcome global_outcome = filters::threshold_outcome(eval.scores, eval.labels, global, eval_queries);
  report.recall_target = global_outcome.recall;

  // Tunes a threshold on a decision score to reach the recall target, then measures it.
  const auto at_target = [&](const std::vector<double>& tune_scores, const std::vector<double>& eval_scores) {
    const double t = filters::threshold_for_recall(tune_scores, tune.labels, report.recall_target);
    return std::pair{t, filters::threshold_outcome(eval_scores, eval.labels, t, eval_queries)};
  };

  {
    const auto [t, outcome] = at_target(tune.relevance, eval.relevance);
    RelevanceMethodResult adapter = result("adapter", format("relevance >= %.4f", t), outcome);
    adapter.ece = filters::reliability(eval.relevance, eval.labels).ece;
    report.methods.push_back(std::move(adapter));
  }
  report.methods.push_back(
      result("global_threshold", raw_threshold_text(global, filter.metric()) + " (best F1)", global_outcome));
  {
    const auto rule = [](const ScoredQuery& q) { return filters::negated_ranks(q.scores); };
    const auto [t, outcome] = at_target(per_query(tune, rule), per_query(eval, rule));
    report.methods.push_back(result("top_k", format("k = %.0f", -t), outcome));
  }
  {
    const auto rule = [](const ScoredQuery& q) { return filters::distance_from_top(q.scores); };
    const auto [t, outcome] = at_target(per_query(tune, rule), per_query(eval, rule));
    report.methods.push_back(result("relative_to_top", format("s >= top - %.6g", -t), outcome));
  }
  {
    const auto rule = [](const ScoredQuery& q) { return filters::z_scores(q.scores); };
    const auto [t, outcome] = at_target(per_query(tune, rule), per_query(eval, rule));
    report.methods.push_back(result("z_score", format("z >= %.4f", t), outcome));
  }
  {
    // The smallest minimum rank whose cuts reach the recall target on the tuning set.
    std::size_t deepest = 1;
    for (const ScoredQuery& q : tune.queries) deepest = std::max(deepest, q.scores.size());
    const auto cuts = [](const PooledSet& set, std::size_t min_rank) {
      std::vector<std::uint8_t> kept;
      for (const ScoredQuery& q : set.queries) {
        const auto k = filters::largest_gap_cut(q.scores, min_rank);
        kept.insert(kept.end(), k.begin(), k.end());
      }
      return kept;
    };
    std::size_t min_rank = deepest;
    for (std::size_t m = 1; m < deepest; ++m) {
      if (filters::selection_outcome(cuts(tune, m), tune.labels, tune.queries.size()).recall >= report.recall_target) {
        min_rank = m;
        break;
      }
    }
    report.methods.push_back(result("largest_gap", "largest drop after rank " + std::to_string(min_rank),
                                    filters::selection_outcome(cuts(eval, min_rank), eval.labels, eval_queries)));
  }
  // Query-independent calibrations of the raw score, each cut where it reaches the target.
  const auto add_calibrated = [&](const char* name, const auto& calibration) {
    const auto calibrate = [&](const PooledSet& set) {
      std::vector<double> p(set.scores.size());
      for (std::size_t i = 0; i < p.size(); ++i) p[i] = calibration.probability(set.scores[i]);
      return p;
    };
    const std::vector<double> eval_p = calibrate(eval);
    const auto [t, outcome] = at_target(calibrate(tune), eval_p);
    RelevanceMethodResult r = result(name, format("p >= %.4f", t), outcome);
    r.ece = filters::reliability(eval_p, eval.labels).ece;
    report.methods.push_back(std::move(r));
  };
  add_calibrated("platt", filters::PlattScaling::fit(tune.scores, tune.labels));
  add_calibrated("isotonic", filters::IsotonicCalibration::fit(tune.scores, tune.labels));

  report.adapter_at_half =
      result("adapter", "relevance >= 0.5", filters::threshold_outcome(eval.relevance, eval.labels, 0.5, eval_queries));
  report.adapter_at_half.ece = report.methods.front().ece;
  report.adapter_pr_auc = filters::average_precision(eval.relevance, eval.labels);
  report.raw_pr_auc = filters::average_precision(eval.scores, eval.labels);
  report.adapter_p_at_r95 = filters::precision_at_recall(eval.relevance, eval.labels, 0.95);
  report.raw_p_at_r95 = filters::precision_at_recall(eval.scores, eval.labels, 0.95);
  for (const double recall : {0.5, 0.6, 0.7, 0.8, 0.9, 0.95}) {
    report.matched_recall.push_back({recall, filters::precision_at_recall(eval.relevance, eval.labels, recall),
                                     filters::precision_at_recall(eval.scores, eval.labels, recall)});
  }
  const filters::Reliability reliability = filters::reliability(eval.relevance, eval.labels);
  report.reliability = reliability.bins;
  report.ece = reliability.ece;
  return report;
}

}  // namespace quiver
