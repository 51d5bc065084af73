#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "filters/relevance_metrics.h"

using namespace quiver::filters;

namespace {

// 19 relevant hits, one irrelevant, then the 20th relevant one: 21 pairs.
struct NearlyPerfect {
  std::vector<double> scores;
  std::vector<std::uint8_t> labels;
  NearlyPerfect() {
    for (int i = 0; i < 21; ++i) scores.push_back(1.0 - 0.01 * i);
    labels.assign(19, 1);
    labels.push_back(0);
    labels.push_back(1);
  }
};

}  // namespace

TEST_CASE("average precision on a hand-computed ranking") {
  // Cuts: P=1 at R=1/2, then P=2/3 at R=1: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
  const std::vector<double> scores{0.9, 0.8, 0.7, 0.6};
  const std::vector<std::uint8_t> labels{1, 0, 1, 0};
  CHECK(average_precision(scores, labels) == doctest::Approx(5.0 / 6.0));
  // A perfect ranking has AP 1; the reverse of it has AP = mean of 1/2 and 2/4.
  CHECK(average_precision(scores, std::vector<std::uint8_t>{1, 1, 0, 0}) == doctest::Approx(1.0));
  CHECK(average_precision(scores, std::vector<std::uint8_t>{0, 0, 1, 1}) == doctest::Approx((1.0 / 3 + 2.0 / 4) / 2));
  // No relevant pair: 0 rather than a division by zero.
  CHECK(average_precision(scores, std::vector<std::uint8_t>{0, 0, 0, 0}) == 0.0);
}

TEST_CASE("tied scores form a single cut") {
  // A threshold cannot separate the tied pair, so the only cut keeps both: AP = 1/2.
  const std::vector<double> scores{0.5, 0.5};
  CHECK(average_precision(scores, std::vector<std::uint8_t>{1, 0}) == doctest::Approx(0.5));
  CHECK(average_precision(scores, std::vector<std::uint8_t>{0, 1}) == doctest::Approx(0.5));
}

TEST_CASE("precision at 95% recall and the threshold that reaches a recall") {
  const NearlyPerfect data;
  // 19 of 20 relevant = 95 % recall with nothing irrelevant kept.
  CHECK(precision_at_recall(data.scores, data.labels, 0.95) == doctest::Approx(1.0));
  CHECK(precision_at_recall(data.scores, data.labels, 1.0) == doctest::Approx(20.0 / 21.0));
  CHECK(threshold_for_recall(data.scores, data.labels, 0.95) == doctest::Approx(data.scores[18]));
  CHECK(threshold_for_recall(data.scores, data.labels, 0.96) == doctest::Approx(data.scores[20]));
  CHECK(threshold_for_recall(data.scores, data.labels, 0.0) == doctest::Approx(data.scores[0]));
}

TEST_CASE("the best-F1 threshold and the outcome of a threshold") {
  const NearlyPerfect data;
  // Keeping 19 gives F1 = 2*1*0.95/1.95 = 0.974; keeping all 21 gives 2*(20/21)/(1+20/21) = 0.976.
  CHECK(best_f1_threshold(data.scores, data.labels) == doctest::Approx(data.scores[20]));

  const std::vector<double> scores{0.9, 0.8, 0.7, 0.6, 0.3, 0.2};
  const std::vector<std::uint8_t> labels{1, 0, 1, 1, 0, 1};
  const CutOutcome outcome = threshold_outcome(scores, labels, 0.65, 2);
  CHECK(outcome.precision == doctest::Approx(2.0 / 3.0));
  CHECK(outcome.recall == doctest::Approx(2.0 / 4.0));
  CHECK(outcome.f1 == doctest::Approx(2 * (2.0 / 3) * 0.5 / (2.0 / 3 + 0.5)));
  CHECK(outcome.mean_returned == doctest::Approx(1.5));
  const CutOutcome none = threshold_outcome(scores, labels, 2.0, 2);
  CHECK(none.precision == 0.0);
  CHECK(none.recall == 0.0);
  CHECK(none.f1 == 0.0);
}

TEST_CASE("reliability bins and expected calibration error on a hand-computed case") {
  // Bin [0, 0.1): predicted 0.05, observed 1/2, weight 2/5 -> 0.18
  // Bin [0.5, 0.6): predicted 0.55, observed 1, weight 1/5 -> 0.09
  // Bin [0.9, 1]: predicted 0.95 (and 1.0 falls here), observed 1, weight 2/5 -> 0.02
  const std::vector<double> p{0.05, 0.05, 0.55, 0.9, 1.0};
  const std::vector<std::uint8_t> labels{0, 1, 1, 1, 1};
  const Reliability r = reliability(p, labels);
  REQUIRE(r.bins.size() == 10);
  CHECK(r.bins[0].count == 2);
  CHECK(r.bins[0].mean_predicted == doctest::Approx(0.05));
  CHECK(r.bins[0].observed == doctest::Approx(0.5));
  CHECK(r.bins[5].count == 1);
  CHECK(r.bins[9].count == 2);
  CHECK(r.bins[9].mean_predicted == doctest::Approx(0.95));
  CHECK(r.bins[9].lower == doctest::Approx(0.9));
  CHECK(r.bins[9].upper == doctest::Approx(1.0));
  CHECK(r.bins[3].count == 0);
  CHECK(r.ece == doctest::Approx(0.18 + 0.09 + 0.02));
}

TEST_CASE("a calibrated predictor has zero calibration error") {
  // In each bin the predicted probability equals the observed frequency.
  std::vector<double> p;
  std::vector<std::uint8_t> labels;
  for (int i = 0; i < 4; ++i) {
    p.push_back(0.25);
    labels.push_back(i == 0 ? 1 : 0);
  }
  for (int i = 0; i < 4; ++i) {
    p.push_back(0.75);
    labels.push_back(i == 0 ? 0 : 1);
  }
  CHECK(reliability(p, labels).ece == doctest::Approx(0.0));
}
