// Adam (Kingma & Ba, 2015) over one flat parameter vector: the adapter's optimiser.
// Per-parameter step sizes matter here because the map's offset, the slopes and the
// first-layer weights see gradients of very different magnitudes.
#pragma once

#include <Eigen/Dense>
#include <cmath>

namespace quiver::filters {

class Adam {
 public:
  Adam(Eigen::Index parameters, double learning_rate)
      : learning_rate_(learning_rate),
        first_(Eigen::VectorXd::Zero(parameters)),
        second_(Eigen::VectorXd::Zero(parameters)) {}

  // parameters -= step(gradient)
  void step(Eigen::VectorXd& parameters, const Eigen::VectorXd& gradient) {
    ++steps_;
    first_ = beta1 * first_ + (1 - beta1) * gradient;
    second_ = beta2 * second_ + (1 - beta2) * gradient.cwiseAbs2();
    const double correction1 = 1 - std::pow(beta1, steps_);
    const double correction2 = 1 - std::pow(beta2, steps_);
    parameters.array() -=
        learning_rate_ * (first_.array() / correction1) / ((second_.array() / correction2).sqrt() + epsilon);
  }

 private:
  static constexpr double beta1 = 0.9;
  static constexpr double beta2 = 0.999;
  static constexpr double epsilon = 1e-8;

  double learning_rate_;
  Eigen::VectorXd first_;
  Eigen::VectorXd second_;
  double steps_ = 0;
};

}  // namespace quiver::filters
