#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "filters/relevance_baselines.h"
#include "filters/scored_query.h"

using namespace quiver;
using namespace quiver::filters;

TEST_CASE("isotonic regression pools adjacent violators on a hand-computed case") {
  // Labels 1, 0 at the two lowest scores violate monotonicity and pool to 0.5.
  const std::vector<double> scores{1, 2, 3, 4};
  const std::vector<std::uint8_t> labels{1, 0, 1, 1};
  const auto iso = IsotonicCalibration::fit(scores, labels);
  CHECK(iso.probability(1) == doctest::Approx(0.5));
  CHECK(iso.probability(2) == doctest::Approx(0.5));
  CHECK(iso.probability(2.5) == doctest::Approx(0.5));  // between steps: the lower one
  CHECK(iso.probability(3) == doctest::Approx(1.0));
  CHECK(iso.probability(-10) == doctest::Approx(0.5));  // below the data: the first step
  CHECK(iso.probability(10) == doctest::Approx(1.0));
}

TEST_CASE("isotonic output is monotone and gives tied scores one value") {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> scores;
  std::vector<std::uint8_t> labels;
  for (int i = 0; i < 5000; ++i) {
    // Rounded to create ties; noisy labels to create violations.
    const double s = std::round(normal(rng) * 20) / 20;
    scores.push_back(s);
    labels.push_back(uniform(rng) < 1 / (1 + std::exp(-2 * s)) ? 1 : 0);
  }
  const auto iso = IsotonicCalibration::fit(scores, labels);
  const auto& values = iso.step_values();
  REQUIRE(values.size() > 3);
  for (std::size_t i = 1; i < values.size(); ++i) CHECK(values[i] >= values[i - 1]);
  for (std::size_t i = 1; i < iso.step_starts().size(); ++i) CHECK(iso.step_starts()[i] > iso.step_starts()[i - 1]);
  double previous = -1;
  for (double s = -4; s <= 4; s += 0.01) {
    const double p = iso.probability(s);
    CHECK(p >= previous);
    CHECK(p >= 0.0);
    CHECK(p <= 1.0);
    previous = p;
  }
}

TEST_CASE("Platt scaling recovers the logistic curve that generated the labels") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> scores;
  std::vector<std::uint8_t> labels;
  for (int i = 0; i < 40000; ++i) {
    // On a non-unit scale and offset, as L2 similarities are.
    const double s = 100 + 50 * (uniform(rng) * 6 - 3);
    scores.push_back(s);
    labels.push_back(uniform(rng) < 1 / (1 + std::exp(-(0.04 * s - 5))) ? 1 : 0);
  }
  const auto platt = PlattScaling::fit(scores, labels);
  CHECK(platt.slope() == doctest::Approx(0.04).epsilon(0.05));
  CHECK(platt.intercept() == doctest::Approx(-5).epsilon(0.05));
  CHECK(platt.probability(125) == doctest::Approx(0.5).epsilon(0.05));
}

TEST_CASE("per-query decision scores: ranks, distance from the top, z-scores") {
  const std::vector<double> scores{0.2, 0.9, 0.5, 0.5};
  CHECK(negated_ranks(scores) == std::vector<double>{-4, -1, -2, -3});  // ties keep their order
  CHECK(distance_from_top(scores) == std::vector<double>{0.2 - 0.9, 0.0, 0.5 - 0.9, 0.5 - 0.9});
  const auto z = z_scores(scores);
  double mean = 0, square = 0;
  for (const double v : z) {
    mean += v / 4;
    square += v * v / 4;
  }
  CHECK(mean == doctest::Approx(0.0));
  CHECK(square == doctest::Approx(1.0));
  CHECK(z_scores(std::vector<double>{3, 3}) == std::vector<double>{0, 0});
}

TEST_CASE("the largest-gap cut keeps the hits above the widest drop after the minimum rank") {
  const std::vector<double> scores{1.0, 0.5, 0.45, 0.4, 0.1, 0.05};
  // Widest drop: after rank 1 (0.5).
  CHECK(largest_gap_cut(scores, 0) == std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0});
  // Drops after rank >= 2: the widest is after rank 4 (0.3).
  CHECK(largest_gap_cut(scores, 2) == std::vector<std::uint8_t>{1, 1, 1, 1, 0, 0});
  // Hits in any order: the cut follows the scores, not the positions.
  CHECK(largest_gap_cut(std::vector<double>{0.1, 1.0, 0.5}, 0) == std::vector<std::uint8_t>{0, 1, 0});
  CHECK(largest_gap_cut(std::vector<double>{0.3}, 0) == std::vector<std::uint8_t>{1});
}

TEST_CASE("L2 scores become negated Euclidean distances") {
  CHECK(similarity(4.0f, Metric::L2) == doctest::Approx(-2.0));
  CHECK(similarity(-1e-7f, Metric::L2) == doctest::Approx(0.0));  // rounding below zero
  CHECK(similarity(0.25f, Metric::Cosine) == doctest::Approx(0.25));
  CHECK(similarity(-3.0f, Metric::InnerProduct) == doctest::Approx(-3.0));
}
