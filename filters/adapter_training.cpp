#include "filters/adapter_training.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "filters/adam.h"
#include "filters/relevance_baselines.h"
#include "filters/smooth_functions.h"
#include "quiver/error.h"

namespace quiver::filters {
namespace {

// Early stopping counts an epoch as progress only if the validation loss drops by more
// than this fraction: shuffling noise alone should not reset the patience.
constexpr double min_relative_improvement = 1e-5;

// Initial output-layer weights: small, so that training starts at the Platt map for every
// query, but not zero, so that the hidden layer receives a gradient from the first step.
constexpr double initial_output_weight = 1e-2;

void check_options(const RelevanceOptions& options) {
  if (!options.use_query && !options.use_score_features) {
    throw InvalidArgument(
        "the adapter needs an input: enable use_query or use_score_features (without either it is a "
        "query-independent calibration; use Platt scaling for that)");
  }
  if (options.hidden_units == 0) throw InvalidArgument("hidden_units = 0: the network needs at least one hidden unit");
  if (options.batch_queries == 0) throw InvalidArgument("batch_queries = 0: a mini-batch needs at least one query");
  if (options.max_epochs == 0) throw InvalidArgument("max_epochs = 0: train for at least one epoch");
  if (!(options.learning_rate > 0) || !std::isfinite(options.learning_rate)) {
    throw InvalidArgument("learning_rate = " + std::to_string(options.learning_rate) + ": expected a positive number");
  }
  if (!(options.l2 >= 0) || !std::isfinite(options.l2)) {
    throw InvalidArgument("l2 = " + std::to_string(options.l2) + ": expected a non-negative number");
  }
  if (!(options.validation_fraction >= 0 && options.validation_fraction <= 0.5)) {
    throw InvalidArgument("validation_fraction = " + std::to_string(options.validation_fraction) +
                          ": expected a fraction in [0, 0.5] of the training queries");
  }
}

// Throws unless the pairs hold both relevant and irrelevant hits; returns the relevant fraction.
double positive_rate(const std::vector<ScoredQuery>& scored) {
  std::size_t pairs = 0, relevant = 0;
  for (const auto& query : scored) {
    pairs += query.labels.size();
    relevant += static_cast<std::size_t>(std::count(query.labels.begin(), query.labels.end(), std::uint8_t{1}));
  }
  if (pairs == 0) throw InvalidArgument("the training set has no hits: retrieve some results for each query");
  if (relevant == 0 || relevant == pairs) {
    throw InvalidArgument("all " + std::to_string(pairs) + " training labels are " + (relevant == 0 ? "0" : "1") +
                          ": a single-class training set cannot learn a threshold (retrieve deeper results, or "
                          "label some hits " + (relevant == 0 ? "relevant)" : "irrelevant)"));
  }
  return static_cast<double>(relevant) / static_cast<double>(pairs);
}

double mean_loss(const AdapterNetwork& network, const ScoreMap& map, const std::vector<EncodedQuery>& queries,
                 std::span<const std::size_t> rows) {
  return batch_loss(network, map, queries, rows, nullptr);
}

}  // namespace

double batch_loss(const AdapterNetwork& network, const ScoreMap& map, const std::vector<EncodedQuery>& queries,
                  std::span<const std::size_t> batch, Eigen::VectorXd* gradient) {
  const auto columns = static_cast<Eigen::Index>(batch.size());
  Eigen::MatrixXd x(static_cast<Eigen::Index>(network.inputs()), columns);
  std::size_t pairs = 0;
  for (Eigen::Index b = 0; b < columns; ++b) {
    const EncodedQuery& query = queries[batch[static_cast<std::size_t>(b)]];
    x.col(b) = query.input;
    pairs += query.scores.size();
  }
  if (pairs == 0) return 0;
  Eigen::MatrixXd hidden;
  const Eigen::MatrixXd theta = network.forward(x, gradient != nullptr ? &hidden : nullptr);
  Eigen::MatrixXd theta_gradient = Eigen::MatrixXd::Zero(theta.rows(), theta.cols());
  std::vector<double> dz(map.parameter_count());
  const double weight = 1.0 / static_cast<double>(pairs);
  double loss = 0;
  for (Eigen::Index b = 0; b < columns; ++b) {
    const EncodedQuery& query = queries[batch[static_cast<std::size_t>(b)]];
    const std::span<const double> parameters(theta.col(b).data(), map.parameter_count());
    for (std::size_t i = 0; i < query.scores.size(); ++i) {
      const double y = query.labels[i];
      if (gradient == nullptr) {
        loss += logistic_loss(map.value(parameters, query.scores[i]), y);
        continue;
      }
      const double z = map.value_and_gradient(parameters, query.scores[i], dz);
      loss += logistic_loss(z, y);
      // d(loss)/dz = sigmoid(z) - y
      const double residual = (sigmoid(z) - y) * weight;
      for (std::size_t p = 0; p < dz.size(); ++p) theta_gradient(static_cast<Eigen::Index>(p), b) += residual * dz[p];
    }
  }
  if (gradient != nullptr) network.backward(x, hidden, theta_gradient, *gradient);
  return loss * weight;
}

CosineAdapter train_cosine_adapter(MatrixView queries, const std::vector<ScoredQuery>& scored, Metric metric,
                                   const RelevanceOptions& options, RelevanceTrainingSummary& summary) {
  check_options(options);
  summary = {};
  summary.positive_rate = positive_rate(scored);

  // Queries without hits carry no pairs; the split is over the others.
  std::vector<std::size_t> usable;
  std::size_t training_k = 0;
  for (std::size_t q = 0; q < scored.size(); ++q) {
    if (scored[q].scores.empty()) continue;
    usable.push_back(q);
    training_k = std::max(training_k, scored[q].scores.size());
  }
  std::mt19937_64 rng(options.seed);
  std::shuffle(usable.begin(), usable.end(), rng);
  const auto validation_count = static_cast<std::size_t>(
      std::floor(options.validation_fraction * static_cast<double>(usable.size())));
  const std::vector<std::size_t> validation_rows(usable.begin(), usable.begin() + static_cast<std::ptrdiff_t>(validation_count));
  std::vector<std::size_t> fit_rows(usable.begin() + static_cast<std::ptrdiff_t>(validation_count), usable.end());
  if (fit_rows.size() < 2) {
    throw InvalidArgument("the adapter needs at least 2 training queries with hits (after holding out " +
                          std::to_string(validation_count) + " for validation), got " +
                          std::to_string(fit_rows.size()));
  }
  summary.fit_queries = fit_rows.size();
  summary.validation_queries = validation_rows.size();

  AdapterInputs inputs = AdapterInputs::fit(queries, scored, fit_rows, options);
  const ScoreMap map(options.map);

  // Encoded once: the inputs are fixed during training. Indexed by query row.
  std::vector<EncodedQuery> encoded(scored.size());
  for (const std::size_t q : usable) {
    EncodedQuery& e = encoded[q];
    for (const double s : scored[q].scores) e.scores.push_back(inputs.standardize(s));
    e.labels = scored[q].labels;
    e.input = inputs.encode(queries.row(q), e.scores);
  }

  AdapterNetwork network(inputs.size(), options.hidden_units, map.parameter_count());
  network.initialize(rng, initial_output_weight);
  {
    std::vector<double> fit_scores;
    std::vector<std::uint8_t> fit_labels;
    for (const std::size_t q : fit_rows) {
      fit_scores.insert(fit_scores.end(), encoded[q].scores.begin(), encoded[q].scores.end());
      fit_labels.insert(fit_labels.end(), encoded[q].labels.begin(), encoded[q].labels.end());
    }
    const PlattScaling platt = PlattScaling::fit(fit_scores, fit_labels);
    // At s' = 0 the Platt map's value is its intercept.
    Eigen::Map<Eigen::VectorXd> bias = network.output_bias();
    map.initial_parameters(platt.slope(), platt.intercept(), {bias.data(), static_cast<std::size_t>(bias.size())});
  }

  Adam adam(network.parameters().size(), options.learning_rate);
  Eigen::VectorXd best = network.parameters();
  const bool early_stopping = !validation_rows.empty();
  double best_loss = early_stopping ? mean_loss(network, map, encoded, validation_rows) : 0.0;
  std::size_t since_best = 0;
  Eigen::VectorXd gradient(network.parameters().size());
  for (std::size_t epoch = 1; epoch <= options.max_epochs; ++epoch) {
    std::shuffle(fit_rows.begin(), fit_rows.end(), rng);
    for (std::size_t first = 0; first < fit_rows.size(); first += options.batch_queries) {
      const std::size_t count = std::min(options.batch_queries, fit_rows.size() - first);
      gradient.setZero();
      batch_loss(network, map, encoded, std::span(fit_rows).subspan(first, count), &gradient);
      network.add_weight_decay(options.l2, gradient);
      adam.step(network.parameters(), gradient);
    }
    summary.epochs = epoch;
    if (!early_stopping) {
      summary.best_epoch = epoch;
      continue;
    }
    const double loss = mean_loss(network, map, encoded, validation_rows);
    if (!std::isfinite(loss)) break;  // diverged: keep the best weights so far
    if (loss < best_loss - min_relative_improvement * std::abs(best_loss)) {
      best_loss = loss;
      best = network.parameters();
      summary.best_epoch = epoch;
      since_best = 0;
    } else if (++since_best >= options.patience) {
      break;
    }
  }
  if (early_stopping) network.parameters() = best;
  summary.validation_loss = early_stopping ? best_loss : 0.0;
  summary.fit_loss = mean_loss(network, map, encoded, fit_rows);
  return CosineAdapter(metric, training_k, map, std::move(inputs), std::move(network));
}

}  // namespace quiver::filters
