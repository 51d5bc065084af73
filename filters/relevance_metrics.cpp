#include "filters/relevance_metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

namespace quiver::filters {
namespace {

// One possible threshold: every pair scoring at least `threshold` is kept.
struct Cut {
  double threshold;
  std::size_t kept;
  std::size_t relevant_kept;
};

// The cuts from the highest threshold down, one per distinct score.
std::vector<Cut> cuts(std::span<const double> scores, std::span<const std::uint8_t> labels) {
  assert(scores.size() == labels.size());
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  std::vector<Cut> out;
  std::size_t relevant = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    relevant += labels[order[i]];
    const bool last_of_tie = i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]];
    if (last_of_tie) out.push_back({scores[order[i]], i + 1, relevant});
  }
  return out;
}

std::size_t count_relevant(std::span<const std::uint8_t> labels) {
  return static_cast<std::size_t>(std::count(labels.begin(), labels.end(), std::uint8_t{1}));
}

CutOutcome outcome(std::size_t kept, std::size_t relevant_kept, std::size_t relevant, std::size_t queries) {
  CutOutcome out;
  out.precision = kept == 0 ? 0.0 : static_cast<double>(relevant_kept) / static_cast<double>(kept);
  out.recall = relevant == 0 ? 0.0 : static_cast<double>(relevant_kept) / static_cast<double>(relevant);
  out.f1 = out.precision + out.recall == 0 ? 0.0 : 2 * out.precision * out.recall / (out.precision + out.recall);
  out.mean_returned = queries == 0 ? 0.0 : static_cast<double>(kept) / static_cast<double>(queries);
  return out;
}

// Recall targets are met up to rounding: a cut that reaches 0.95 - 1e-12 reaches 0.95.
constexpr double recall_slack = 1e-12;

}  // namespace

CutOutcome selection_outcome(std::span<const std::uint8_t> kept, std::span<const std::uint8_t> labels,
                             std::size_t queries) {
  assert(kept.size() == labels.size());
  std::size_t kept_count = 0;
  std::size_t relevant_kept = 0;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    if (kept[i] == 0) continue;
    ++kept_count;
    relevant_kept += labels[i];
  }
  return outcome(kept_count, relevant_kept, count_relevant(labels), queries);
}

CutOutcome threshold_outcome(std::span<const double> scores, std::span<const std::uint8_t> labels, double threshold,
                             std::size_t queries) {
  std::vector<std::uint8_t> kept(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i) kept[i] = scores[i] >= threshold ? 1 : 0;
  return selection_outcome(kept, labels, queries);
}

double average_precision(std::span<const double> scores, std::span<const std::uint8_t> labels) {
  const std::size_t relevant = count_relevant(labels);
  if (relevant == 0) return 0;
  double area = 0;
  std::size_t previous_relevant = 0;
  for (const Cut& cut : cuts(scores, labels)) {
    const double precision = static_cast<double>(cut.relevant_kept) / static_cast<double>(cut.kept);
    area += precision * static_cast<double>(cut.relevant_kept - previous_relevant) / static_cast<double>(relevant);
    previous_relevant = cut.relevant_kept;
  }
  return area;
}

double precision_at_recall(std::span<const double> scores, std::span<const std::uint8_t> labels, double recall) {
  const std::size_t relevant = count_relevant(labels);
  if (relevant == 0) return 0;
  double best = 0;
  for (const Cut& cut : cuts(scores, labels)) {
    if (static_cast<double>(cut.relevant_kept) / static_cast<double>(relevant) + recall_slack < recall) continue;
    best = std::max(best, static_cast<double>(cut.relevant_kept) / static_cast<double>(cut.kept));
  }
  return best;
}

double threshold_for_recall(std::span<const double> scores, std::span<const std::uint8_t> labels, double recall) {
  const std::size_t relevant = count_relevant(labels);
  const auto all = cuts(scores, labels);
  if (all.empty()) return 0;
  for (const Cut& cut : all) {
    if (static_cast<double>(cut.relevant_kept) + recall_slack >= recall * static_cast<double>(relevant)) {
      return cut.threshold;
    }
  }
  return all.back().threshold;
}

double best_f1_threshold(std::span<const double> scores, std::span<const std::uint8_t> labels) {
  const std::size_t relevant = count_relevant(labels);
  double best_f1 = -1;
  double best_threshold = 0;
  for (const Cut& cut : cuts(scores, labels)) {
    const double f1 = outcome(cut.kept, cut.relevant_kept, relevant, 1).f1;
    if (f1 > best_f1) {
      best_f1 = f1;
      best_threshold = cut.threshold;
    }
  }
  return best_threshold;
}

Reliability reliability(std::span<const double> probabilities, std::span<const std::uint8_t> labels,
                        std::size_t bin_count) {
  assert(probabilities.size() == labels.size() && bin_count > 0);
  Reliability out;
  out.bins.resize(bin_count);
  std::vector<double> predicted_sum(bin_count, 0.0);
  std::vector<double> relevant_sum(bin_count, 0.0);
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    const double p = std::clamp(probabilities[i], 0.0, 1.0);
    const auto bin = std::min(bin_count - 1, static_cast<std::size_t>(p * static_cast<double>(bin_count)));
    predicted_sum[bin] += p;
    relevant_sum[bin] += labels[i];
    ++out.bins[bin].count;
  }
  const auto total = static_cast<double>(probabilities.size());
  for (std::size_t b = 0; b < bin_count; ++b) {
    ReliabilityBin& bin = out.bins[b];
    bin.lower = static_cast<double>(b) / static_cast<double>(bin_count);
    bin.upper = static_cast<double>(b + 1) / static_cast<double>(bin_count);
    if (bin.count == 0) continue;
    const auto count = static_cast<double>(bin.count);
    bin.mean_predicted = predicted_sum[b] / count;
    bin.observed = relevant_sum[b] / count;
    out.ece += count / total * std::abs(bin.mean_predicted - bin.observed);
  }
  return out;
}

}  // namespace quiver::filters
