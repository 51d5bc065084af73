#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "filters/adapter_network.h"
#include "filters/adapter_training.h"
#include "filters/relevance_metrics.h"
#include "filters/score_map.h"
#include "filters/scored_query.h"
#include "quiver/relevance_filter.h"
#include "synthetic_relevance.h"

using namespace quiver;
using namespace quiver::filters;
using namespace quiver::testing;

namespace {

constexpr std::array<RelevanceMap, 3> families = {RelevanceMap::Linear, RelevanceMap::Power, RelevanceMap::Quadratic};

// Relevance and labels of every pair of `set`, pooled.
struct Scored {
  std::vector<double> relevance;
  std::vector<double> raw;
  std::vector<std::uint8_t> labels;
};

Scored score_all(const RelevanceFilter& filter, const SyntheticRelevance& set) {
  Scored out;
  for (std::size_t q = 0; q < set.hits.size(); ++q) {
    const auto r = filter.relevance(set.queries.row(q), set.hits[q], set.metric);
    out.relevance.insert(out.relevance.end(), r.begin(), r.end());
    for (const Hit& hit : set.hits[q]) out.raw.push_back(similarity(hit.score, set.metric));
    out.labels.insert(out.labels.end(), set.labels[q].begin(), set.labels[q].end());
  }
  return out;
}

RelevanceOptions quick_options(RelevanceMap map = RelevanceMap::Linear) {
  RelevanceOptions options;
  options.map = map;
  options.hidden_units = 16;
  options.max_epochs = 150;
  options.patience = 15;
  options.learning_rate = 1e-2;
  return options;
}

}  // namespace

TEST_CASE("the training loss gradient matches finite differences") {
  std::mt19937_64 rng(21);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::bernoulli_distribution coin(0.4);
  constexpr std::size_t inputs = 5, hidden = 4;
  std::vector<EncodedQuery> queries(6);
  for (auto& q : queries) {
    q.input = Eigen::VectorXd(static_cast<Eigen::Index>(inputs));
    for (auto& v : q.input) v = normal(rng);
    for (int i = 0; i < 7; ++i) {
      q.scores.push_back(normal(rng));
      q.labels.push_back(coin(rng) ? 1 : 0);
    }
  }
  std::vector<std::size_t> batch{0, 2, 3, 5};
  for (const RelevanceMap family : families) {
    CAPTURE(to_string(family));
    const ScoreMap map(family);
    AdapterNetwork network(inputs, hidden, map.parameter_count());
    network.initialize(rng, 0.5);
    for (auto& b : network.output_bias()) b = 0.3 * normal(rng);
    Eigen::VectorXd gradient = Eigen::VectorXd::Zero(network.parameters().size());
    batch_loss(network, map, queries, batch, &gradient);
    constexpr double h = 1e-6;
    for (Eigen::Index p = 0; p < network.parameters().size(); ++p) {
      AdapterNetwork plus = network, minus = network;
      plus.parameters()(p) += h;
      minus.parameters()(p) -= h;
      const double numeric =
          (batch_loss(plus, map, queries, batch, nullptr) - batch_loss(minus, map, queries, batch, nullptr)) / (2 * h);
      CHECK(gradient(p) == doctest::Approx(numeric).epsilon(1e-4).scale(1e-3));
    }
  }
}

TEST_CASE("per-query score scales: the adapter beats the best global threshold in F1 by a clear margin") {
  const auto all = synthetic_relevance(1200, 40, 8, 31);
  const auto train = slice(all, 0, 800);
  const auto test = slice(all, 800, 400);
  const RelevanceFilter filter = RelevanceFilter::train(train.set(), quick_options());

  const Scored tuned = score_all(filter, train);
  const Scored held_out = score_all(filter, test);
  const double global = best_f1_threshold(tuned.raw, tuned.labels);
  const CutOutcome global_outcome = threshold_outcome(held_out.raw, held_out.labels, global, test.hits.size());
  const CutOutcome adapter_outcome = threshold_outcome(held_out.relevance, held_out.labels, 0.5, test.hits.size());
  MESSAGE("global threshold F1 " << global_outcome.f1 << ", adapter F1 at 0.5 " << adapter_outcome.f1);
  CHECK(adapter_outcome.f1 > global_outcome.f1 + 0.15);
  CHECK(average_precision(held_out.relevance, held_out.labels) >
        average_precision(held_out.raw, held_out.labels) + 0.1);
  // Calibrated as well as sharp.
  CHECK(reliability(held_out.relevance, held_out.labels).ece < 0.05);
  const auto& summary = filter.training_summary();
  CHECK(summary.fit_queries == 720);
  CHECK(summary.validation_queries == 80);
  CHECK(summary.best_epoch >= 1);
  CHECK(summary.validation_loss > 0);
}

TEST_CASE("ranking is unchanged: relevance never increases down a query's hit list, for every family") {
  const auto all = synthetic_relevance(500, 30, 6, 41);
  const auto train = slice(all, 0, 400);
  const auto test = slice(all, 400, 100);
  for (const RelevanceMap family : families) {
    CAPTURE(to_string(family));
    RelevanceOptions options = quick_options(family);
    options.max_epochs = 60;
    const RelevanceFilter filter = RelevanceFilter::train(train.set(), options);
    for (std::size_t q = 0; q < test.hits.size(); ++q) {
      const auto r = filter.relevance(test.queries.row(q), test.hits[q], test.metric);
      for (std::size_t i = 1; i < r.size(); ++i) CHECK(r[i] <= r[i - 1]);
    }
    // The map itself, on a dense grid of scores rather than the hits alone.
    const std::span<const float> query = test.queries.row(0);
    std::vector<Hit> grid;
    for (int i = 0; i < 400; ++i) grid.push_back({static_cast<std::uint64_t>(i), 8.0f - 0.04f * static_cast<float>(i)});
    const auto r = filter.relevance(query, grid, test.metric);
    for (std::size_t i = 1; i < r.size(); ++i) CHECK(r[i] <= r[i - 1]);
  }
}

TEST_CASE("L2 distances work as -sqrt(distance): the adapter still beats the global threshold") {
  const auto all = synthetic_relevance(900, 40, 8, 51, Metric::L2);
  const auto train = slice(all, 0, 600);
  const auto test = slice(all, 600, 300);
  const RelevanceFilter filter = RelevanceFilter::train(train.set(), quick_options());
  const Scored tuned = score_all(filter, train);
  const Scored held_out = score_all(filter, test);
  const double global = best_f1_threshold(tuned.raw, tuned.labels);
  const double global_f1 = threshold_outcome(held_out.raw, held_out.labels, global, 300).f1;
  const double adapter_f1 = threshold_outcome(held_out.relevance, held_out.labels, 0.5, 300).f1;
  CHECK(adapter_f1 > global_f1 + 0.15);
  // Best first for L2 means the smallest distance first.
  const auto r = filter.relevance(test.queries.row(0), test.hits[0], Metric::L2);
  for (std::size_t i = 1; i < r.size(); ++i) CHECK(r[i] <= r[i - 1]);
}

TEST_CASE("training is deterministic for a seed") {
  const auto all = synthetic_relevance(300, 20, 6, 61);
  RelevanceOptions options = quick_options();
  options.max_epochs = 20;
  const RelevanceFilter a = RelevanceFilter::train(all.set(), options);
  const RelevanceFilter b = RelevanceFilter::train(all.set(), options);
  options.seed = 43;
  const RelevanceFilter c = RelevanceFilter::train(all.set(), options);
  bool any_difference = false;
  for (std::size_t q = 0; q < 20; ++q) {
    const auto ra = a.relevance(all.queries.row(q), all.hits[q], all.metric);
    const auto rb = b.relevance(all.queries.row(q), all.hits[q], all.metric);
    const auto rc = c.relevance(all.queries.row(q), all.hits[q], all.metric);
    CHECK(ra == rb);
    any_difference = any_difference || ra != rc;
  }
  CHECK(any_difference);
}

TEST_CASE("the paper's adapter (query only) and the score features alone both train") {
  const auto all = synthetic_relevance(600, 30, 8, 71);
  const auto train = slice(all, 0, 450);
  const auto test = slice(all, 450, 150);
  for (const bool use_query : {true, false}) {
    CAPTURE(use_query);
    RelevanceOptions options = quick_options();
    options.use_query = use_query;
    options.use_score_features = !use_query;
    const RelevanceFilter filter = RelevanceFilter::train(train.set(), options);
    const Scored held_out = score_all(filter, test);
    CHECK(average_precision(held_out.relevance, held_out.labels) >
          average_precision(held_out.raw, held_out.labels) + 0.05);
  }
}
