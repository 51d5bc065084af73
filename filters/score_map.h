// The monotone maps z = f(s'; theta) of a standardised similarity s' that the Cosine
// Adapter's network parameterises per query (see RelevanceMap). The raw network outputs
// theta are unconstrained; softplus turns them into the positive slopes and exponents that
// keep f increasing, so a query's ranking survives any output the network produces.
#pragma once

#include <cstddef>
#include <span>

#include "quiver/relevance_filter.h"

namespace quiver::filters {

class ScoreMap {
 public:
  explicit ScoreMap(RelevanceMap family) : family_(family) {}

  RelevanceMap family() const { return family_; }
  // Network outputs per query: 2 (linear) or 3 (power, quadratic).
  std::size_t parameter_count() const;

  // z = f(s'; theta)
  double value(std::span<const double> theta, double s) const;
  // z, and dz/dtheta written to `gradient` (parameter_count() entries).
  double value_and_gradient(std::span<const double> theta, double s, std::span<double> gradient) const;

  // theta for which f is the query-independent map that the training starts from: slope
  // `slope` and value `offset` at s' = 0 (the training scores' mean).
  void initial_parameters(double slope, double offset, std::span<double> theta) const;

 private:
  RelevanceMap family_;
};

}  // namespace quiver::filters
