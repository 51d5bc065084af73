#include "filters/score_map.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "filters/smooth_functions.h"

namespace quiver::filters {
namespace {

// Keeps the power's exponent away from 0, where u^p flattens into a constant and the map
// would stop separating scores at all.
constexpr double min_exponent = 0.01;

}  // namespace

std::size_t ScoreMap::parameter_count() const { return family_ == RelevanceMap::Linear ? 2 : 3; }

double ScoreMap::value(std::span<const double> theta, double s) const {
  switch (family_) {
    case RelevanceMap::Linear:
      return softplus(theta[0]) * s + theta[1];
    case RelevanceMap::Power: {
      const double p = softplus(theta[1]) + min_exponent;
      return softplus(theta[0]) * std::exp(p * log_sigmoid(s)) + theta[2];
    }
    case RelevanceMap::Quadratic: {
      const double u = sigmoid(s);
      const double alpha = softplus(theta[0]);
      // beta >= -alpha/2 makes the derivative alpha + 2*beta*u positive on all of [0, 1].
      const double beta = softplus(theta[1]) - alpha / 2;
      return theta[2] + alpha * u + beta * u * u;
    }
  }
  return 0;  // unreachable: every family is handled above
}

double ScoreMap::value_and_gradient(std::span<const double> theta, double s, std::span<double> gradient) const {
  assert(gradient.size() == parameter_count());
  switch (family_) {
    case RelevanceMap::Linear: {
      gradient[0] = sigmoid(theta[0]) * s;  // softplus' = sigmoid
      gradient[1] = 1;
      return softplus(theta[0]) * s + theta[1];
    }
    case RelevanceMap::Power: {
      const double a = softplus(theta[0]);
      const double p = softplus(theta[1]) + min_exponent;
      const double log_u = log_sigmoid(s);
      const double u_p = std::exp(p * log_u);
      gradient[0] = sigmoid(theta[0]) * u_p;
      gradient[1] = a * u_p * log_u * sigmoid(theta[1]);
      gradient[2] = 1;
      return a * u_p + theta[2];
    }
    case RelevanceMap::Quadratic: {
      const double u = sigmoid(s);
      const double alpha = softplus(theta[0]);
      const double beta = softplus(theta[1]) - alpha / 2;
      gradient[0] = sigmoid(theta[0]) * (u - u * u / 2);
      gradient[1] = sigmoid(theta[1]) * u * u;
      gradient[2] = 1;
      return theta[2] + alpha * u + beta * u * u;
    }
  }
  return 0;  // unreachable
}

void ScoreMap::initial_parameters(double slope, double offset, std::span<double> theta) const {
  assert(theta.size() == parameter_count());
  // A tiny slope (a score that carries no signal) still needs a finite inverse softplus.
  slope = std::max(slope, 1e-3);
  switch (family_) {
    case RelevanceMap::Linear:
      theta[0] = inverse_softplus(slope);
      theta[1] = offset;
      return;
    // Both squash s' with u = sigmoid(s'), whose slope at s' = 0 is 1/4, and start from
    // the straight line in u: a (or alpha) = 4 * slope, value 2 * slope + b at u = 1/2.
    case RelevanceMap::Power:
      theta[0] = inverse_softplus(4 * slope);
      theta[1] = inverse_softplus(1 - min_exponent);
      theta[2] = offset - 2 * slope;
      return;
    case RelevanceMap::Quadratic:
      theta[0] = inverse_softplus(4 * slope);
      theta[1] = inverse_softplus(2 * slope);  // beta = 0
      theta[2] = offset - 2 * slope;
      return;
  }
}

}  // namespace quiver::filters
