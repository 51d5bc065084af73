// Numerically stable logistic and softplus, shared by the adapter, its maps and Platt
// scaling: for |x| in the hundreds the naive forms overflow exp() or lose every digit.
#pragma once

#include <cmath>

namespace quiver::filters {

inline double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// log(1 + e^x)
inline double softplus(double x) { return x > 30 ? x : std::log1p(std::exp(x)); }

// The x with softplus(x) = y, for y > 0.
inline double inverse_softplus(double y) { return y > 30 ? y : std::log(std::expm1(y)); }

// log(sigmoid(x))
inline double log_sigmoid(double x) { return -softplus(-x); }

// Binary cross-entropy of sigmoid(z) against label y in {0, 1}: softplus(z) - y*z.
inline double logistic_loss(double z, double y) { return softplus(z) - y * z; }

}  // namespace quiver::filters
