#include "filters/relevance_baselines.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

#include "filters/smooth_functions.h"
#include "quiver/error.h"

namespace quiver::filters {
namespace {

// Indices of `scores` from the best to the worst; stable, so tied hits keep their order.
std::vector<std::size_t> descending_order(std::span<const double> scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return order;
}

constexpr int newton_iterations = 100;
constexpr double newton_tolerance = 1e-10;

}  // namespace

PlattScaling PlattScaling::fit(std::span<const double> scores, std::span<const std::uint8_t> labels) {
  assert(scores.size() == labels.size());
  if (scores.empty()) throw InvalidArgument("Platt scaling needs at least one scored pair");
  // Newton steps on standardised scores, where the Hessian is well conditioned whatever
  // the metric's scale (L2 distances in the thousands, cosines in [-1, 1]).
  const auto n = static_cast<double>(scores.size());
  const double mean = std::accumulate(scores.begin(), scores.end(), 0.0) / n;
  double variance = 0;
  for (const double s : scores) variance += (s - mean) * (s - mean);
  const double scale = variance > 0 ? std::sqrt(variance / n) : 1.0;

  double a = 0;
  const double positives = static_cast<double>(std::count(labels.begin(), labels.end(), std::uint8_t{1}));
  // Start from the base rate, clamped so that a single-class set stays finite; the tiny
  // ridge below then keeps the slope finite as well.
  const double rate = std::clamp(positives / n, 1e-6, 1 - 1e-6);
  double b = std::log(rate / (1 - rate));
  constexpr double ridge = 1e-9;
  for (int iteration = 0; iteration < newton_iterations; ++iteration) {
    double ga = 0, gb = 0, haa = ridge * n, hab = 0, hbb = ridge * n;
    for (std::size_t i = 0; i < scores.size(); ++i) {
      const double x = (scores[i] - mean) / scale;
      const double p = sigmoid(a * x + b);
      const double r = p - labels[i];
      const double w = p * (1 - p);
      ga += r * x;
      gb += r;
      haa += w * x * x;
      hab += w * x;
      hbb += w;
    }
    ga += ridge * n * a;
    gb += ridge * n * b;
    const double det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const double da = (hbb * ga - hab * gb) / det;
    const double db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (std::abs(da) + std::abs(db) < newton_tolerance) break;
  }
  return PlattScaling(a / scale, b - a * mean / scale);
}

double PlattScaling::probability(double score) const { return sigmoid(slope_ * score + intercept_); }

IsotonicCalibration IsotonicCalibration::fit(std::span<const double> scores, std::span<const std::uint8_t> labels) {
  assert(scores.size() == labels.size());
  if (scores.empty()) throw InvalidArgument("isotonic calibration needs at least one scored pair");
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });

  struct Block {
    double start;  // lowest score in the block
    double sum;    // relevant pairs
    double weight; // pairs
    double mean() const { return sum / weight; }
  };
  std::vector<Block> blocks;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const double s = scores[order[i]];
    const double y = labels[order[i]];
    // Tied scores must get one value: a threshold cannot tell them apart.
    if (!blocks.empty() && blocks.back().start == s) {
      blocks.back().sum += y;
      blocks.back().weight += 1;
    } else {
      blocks.push_back({s, y, 1});
    }
    // Pool while the last block's mean falls below its predecessor's.
    while (blocks.size() >= 2 && blocks[blocks.size() - 2].mean() >= blocks.back().mean()) {
      Block last = blocks.back();
      blocks.pop_back();
      blocks.back().sum += last.sum;
      blocks.back().weight += last.weight;
    }
  }
  IsotonicCalibration out;
  for (const Block& block : blocks) {
    out.starts_.push_back(block.start);
    out.values_.push_back(block.mean());
  }
  return out;
}

double IsotonicCalibration::probability(double score) const {
  const auto next = std::upper_bound(starts_.begin(), starts_.end(), score);
  if (next == starts_.begin()) return values_.front();
  return values_[static_cast<std::size_t>(next - starts_.begin()) - 1];
}

std::vector<double> negated_ranks(std::span<const double> scores) {
  std::vector<double> out(scores.size());
  const auto order = descending_order(scores);
  for (std::size_t rank = 0; rank < order.size(); ++rank) out[order[rank]] = -static_cast<double>(rank + 1);
  return out;
}

std::vector<double> distance_from_top(std::span<const double> scores) {
  std::vector<double> out(scores.size());
  if (scores.empty()) return out;
  const double top = *std::max_element(scores.begin(), scores.end());
  for (std::size_t i = 0; i < scores.size(); ++i) out[i] = scores[i] - top;
  return out;
}

std::vector<double> z_scores(std::span<const double> scores) {
  std::vector<double> out(scores.size(), 0.0);
  if (scores.empty()) return out;
  const auto n = static_cast<double>(scores.size());
  const double mean = std::accumulate(scores.begin(), scores.end(), 0.0) / n;
  double variance = 0;
  for (const double s : scores) variance += (s - mean) * (s - mean);
  const double deviation = std::sqrt(variance / n);
  if (!(deviation > 0)) return out;
  for (std::size_t i = 0; i < scores.size(); ++i) out[i] = (scores[i] - mean) / deviation;
  return out;
}

std::vector<std::uint8_t> largest_gap_cut(std::span<const double> scores, std::size_t min_rank) {
  std::vector<std::uint8_t> kept(scores.size(), 0);
  if (scores.empty()) return kept;
  const auto order = descending_order(scores);
  // Keep ranks 1..cut; the drop after rank r is score(r) - score(r + 1).
  std::size_t cut = order.size();
  double widest = -1;
  for (std::size_t r = std::max<std::size_t>(min_rank, 1); r < order.size(); ++r) {
    const double drop = scores[order[r - 1]] - scores[order[r]];
    if (drop > widest) {
      widest = drop;
      cut = r;
    }
  }
  for (std::size_t r = 0; r < cut; ++r) kept[order[r]] = 1;
  return kept;
}

}  // namespace quiver::filters
