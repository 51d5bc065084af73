// The Cosine Adapter's network: one tanh hidden layer from the query's input features to
// the parameters of its score map. All weights live in one flat vector so that the
// optimiser, the early-stopping checkpoint and the model file each handle a single array.
#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <random>

namespace quiver::filters {

class AdapterNetwork {
 public:
  AdapterNetwork(std::size_t inputs, std::size_t hidden, std::size_t outputs);
  // Takes `parameters` as laid out by parameter_count(); throws InvalidArgument if the
  // length does not match.
  AdapterNetwork(std::size_t inputs, std::size_t hidden, std::size_t outputs, Eigen::VectorXd parameters);

  // Layout: W1 (hidden x inputs, column-major), b1, W2 (outputs x hidden), b2.
  static std::size_t parameter_count(std::size_t inputs, std::size_t hidden, std::size_t outputs);

  // Random weights: Glorot scale for the tanh layer, N(0, output_scale^2) for the output
  // layer; biases 0.
  void initialize(std::mt19937_64& rng, double output_scale);

  // Map parameters for each column of `x` (inputs x batch); `hidden` receives the tanh
  // activations that backward() needs.
  Eigen::MatrixXd forward(const Eigen::MatrixXd& x, Eigen::MatrixXd* hidden = nullptr) const;
  // Adds to `gradient` the gradient of a loss whose gradient with respect to the outputs
  // is `output_gradient` (outputs x batch).
  void backward(const Eigen::MatrixXd& x, const Eigen::MatrixXd& hidden, const Eigen::MatrixXd& output_gradient,
                Eigen::VectorXd& gradient) const;
  // Adds l2 * w to the gradient of every weight (not the biases) and returns
  // (l2 / 2) * |w|^2, the penalty's value.
  double add_weight_decay(double l2, Eigen::VectorXd& gradient) const;

  std::size_t inputs() const { return inputs_; }
  std::size_t hidden() const { return hidden_; }
  std::size_t outputs() const { return outputs_; }
  const Eigen::VectorXd& parameters() const { return parameters_; }
  Eigen::VectorXd& parameters() { return parameters_; }
  // The output layer's bias: the map every query starts from before training.
  Eigen::Map<Eigen::VectorXd> output_bias();

 private:
  struct Offsets {
    Eigen::Index w1, b1, w2, b2;
  };
  Offsets offsets() const;

  std::size_t inputs_, hidden_, outputs_;
  Eigen::VectorXd parameters_;
};

}  // namespace quiver::filters
