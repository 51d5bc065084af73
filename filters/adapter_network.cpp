#include "filters/adapter_network.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "quiver/error.h"

namespace quiver::filters {
namespace {

Eigen::Index as_index(std::size_t n) { return static_cast<Eigen::Index>(n); }

}  // namespace

std::size_t AdapterNetwork::parameter_count(std::size_t inputs, std::size_t hidden, std::size_t outputs) {
  return hidden * inputs + hidden + outputs * hidden + outputs;
}

AdapterNetwork::AdapterNetwork(std::size_t inputs, std::size_t hidden, std::size_t outputs)
    : AdapterNetwork(inputs, hidden, outputs,
                     Eigen::VectorXd::Zero(as_index(parameter_count(inputs, hidden, outputs)))) {}

AdapterNetwork::AdapterNetwork(std::size_t inputs, std::size_t hidden, std::size_t outputs, Eigen::VectorXd parameters)
    : inputs_(inputs), hidden_(hidden), outputs_(outputs), parameters_(std::move(parameters)) {
  const std::size_t expected = parameter_count(inputs, hidden, outputs);
  if (static_cast<std::size_t>(parameters_.size()) != expected) {
    throw InvalidArgument("a " + std::to_string(inputs) + "-" + std::to_string(hidden) + "-" +
                          std::to_string(outputs) + " adapter network has " + std::to_string(expected) +
                          " parameters, got " + std::to_string(parameters_.size()));
  }
}

AdapterNetwork::Offsets AdapterNetwork::offsets() const {
  Offsets o;
  o.w1 = 0;
  o.b1 = o.w1 + as_index(hidden_ * inputs_);
  o.w2 = o.b1 + as_index(hidden_);
  o.b2 = o.w2 + as_index(outputs_ * hidden_);
  return o;
}

void AdapterNetwork::initialize(std::mt19937_64& rng, double output_scale) {
  const Offsets o = offsets();
  std::normal_distribution<double> normal(0.0, 1.0);
  parameters_.setZero();
  const double input_scale = 1.0 / std::sqrt(static_cast<double>(std::max<std::size_t>(1, inputs_)));
  for (Eigen::Index i = o.w1; i < o.b1; ++i) parameters_(i) = input_scale * normal(rng);
  for (Eigen::Index i = o.w2; i < o.b2; ++i) parameters_(i) = output_scale * normal(rng);
}

Eigen::Map<Eigen::VectorXd> AdapterNetwork::output_bias() {
  return {parameters_.data() + offsets().b2, as_index(outputs_)};
}

Eigen::MatrixXd AdapterNetwork::forward(const Eigen::MatrixXd& x, Eigen::MatrixXd* hidden) const {
  const Offsets o = offsets();
  const Eigen::Map<const Eigen::MatrixXd> w1(parameters_.data() + o.w1, as_index(hidden_), as_index(inputs_));
  const Eigen::Map<const Eigen::VectorXd> b1(parameters_.data() + o.b1, as_index(hidden_));
  const Eigen::Map<const Eigen::MatrixXd> w2(parameters_.data() + o.w2, as_index(outputs_), as_index(hidden_));
  const Eigen::Map<const Eigen::VectorXd> b2(parameters_.data() + o.b2, as_index(outputs_));
  Eigen::MatrixXd h = ((w1 * x).colwise() + b1).array().tanh().matrix();
  Eigen::MatrixXd out = (w2 * h).colwise() + b2;
  if (hidden != nullptr) *hidden = std::move(h);
  return out;
}

void AdapterNetwork::backward(const Eigen::MatrixXd& x, const Eigen::MatrixXd& hidden,
                              const Eigen::MatrixXd& output_gradient, Eigen::VectorXd& gradient) const {
  const Offsets o = offsets();
  const Eigen::Map<const Eigen::MatrixXd> w2(parameters_.data() + o.w2, as_index(outputs_), as_index(hidden_));
  Eigen::Map<Eigen::MatrixXd> gw1(gradient.data() + o.w1, as_index(hidden_), as_index(inputs_));
  Eigen::Map<Eigen::VectorXd> gb1(gradient.data() + o.b1, as_index(hidden_));
  Eigen::Map<Eigen::MatrixXd> gw2(gradient.data() + o.w2, as_index(outputs_), as_index(hidden_));
  Eigen::Map<Eigen::VectorXd> gb2(gradient.data() + o.b2, as_index(outputs_));
  gw2.noalias() += output_gradient * hidden.transpose();
  gb2 += output_gradient.rowwise().sum();
  // tanh' = 1 - tanh^2
  const Eigen::MatrixXd pre = ((w2.transpose() * output_gradient).array() * (1 - hidden.array().square())).matrix();
  gw1.noalias() += pre * x.transpose();
  gb1 += pre.rowwise().sum();
}

double AdapterNetwork::add_weight_decay(double l2, Eigen::VectorXd& gradient) const {
  const Offsets o = offsets();
  double penalty = 0;
  const auto decay = [&](Eigen::Index first, Eigen::Index count) {
    gradient.segment(first, count) += l2 * parameters_.segment(first, count);
    penalty += 0.5 * l2 * parameters_.segment(first, count).squaredNorm();
  };
  decay(o.w1, as_index(hidden_ * inputs_));
  decay(o.w2, as_index(outputs_ * hidden_));
  return penalty;
}

}  // namespace quiver::filters
