#include "quant/leanvec_training.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "quiver/error.h"

namespace quiver::quant::leanvec_training {
namespace {

// Rows gathered per rank update: large enough for an efficient SYRK, small enough that the
// per-worker gather buffer (D x 1024 doubles, 6 MiB at D = 768) stays modest.
constexpr std::size_t kBlockRows = 1024;

// Ridge added to each second moment before Sphering takes inverse square roots, relative to
// the mean eigenvalue: numerical only (directions neither set uses), small enough not to
// shift the fit.
constexpr double kRidge = 1e-6;

// Frank-Wolfe schedule from the LeanVec paper.
constexpr std::size_t kMaxSteps = 500;
constexpr double kStepExponent = 0.999;
constexpr double kRelativeTolerance = 1e-3;

// Square root and inverse square root of k + ridge * I, from one eigen decomposition.
struct Roots {
  Eigen::MatrixXd root;
  Eigen::MatrixXd inverse_root;
};

Roots ridged_roots(const Eigen::MatrixXd& k) {
  const Eigen::Index dim = k.rows();
  double scale = k.trace() / static_cast<double>(dim);
  // All-zero input: nothing to fit, any finite scale keeps the maps finite.
  if (!(scale > 0)) scale = 1;
  const Eigenbasis basis = descending_eigenbasis(k);
  const Eigen::ArrayXd values = basis.values.array() + kRidge * scale;
  Roots roots;
  roots.root = basis.vectors * values.sqrt().matrix().asDiagonal() * basis.vectors.transpose();
  roots.inverse_root = basis.vectors * values.rsqrt().matrix().asDiagonal() * basis.vectors.transpose();
  return roots;
}

// Reciprocal square roots of the eigenvalues of a Gram matrix M^T M (M's inverse singular
// values), zero where the singular value is numerically zero: such directions carry
// nothing of M, so leaving them out keeps every use below exact.
Eigen::ArrayXd inverse_singular_values(const Eigen::VectorXd& gram_values) {
  const double largest = gram_values.size() > 0 ? std::max(gram_values[0], 0.0) : 0.0;
  Eigen::ArrayXd inverse(gram_values.size());
  for (Eigen::Index i = 0; i < gram_values.size(); ++i) {
    const double value = gram_values[i];
    inverse[i] = value > largest * 1e-24 && value > 0 ? 1.0 / std::sqrt(value) : 0.0;
  }
  return inverse;
}

// Frank-Wolfe's linear minimisation oracle over the spectral-norm unit ball:
// argmin_{||S|| <= 1} <S, G> = -U V^T for the thin SVD G = U Sigma V^T. For the D x d
// gradient, U V^T = G (G^T G)^{-1/2}: the polar factor, from the eigen decomposition of
// the small d x d Gram matrix. (Training needs the symmetric eigensolver anyway; an SVD
// template would triple this file's compile time for no gain in accuracy that matters.)
Eigen::MatrixXd spectral_ball_vertex(const Eigen::MatrixXd& gradient) {
  const Eigenbasis gram = descending_eigenbasis(gradient.transpose() * gradient);
  const Eigen::ArrayXd inverse = inverse_singular_values(gram.values);
  return -gradient * (gram.vectors * inverse.matrix().asDiagonal() * gram.vectors.transpose());
}

}  // namespace

std::size_t resolve_threads(std::size_t requested) {
  if (requested != 0) return requested;
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

std::vector<std::size_t> sample_rows(std::size_t rows, std::size_t limit, std::uint64_t seed) {
  std::vector<std::size_t> chosen;
  if (limit >= rows) {
    chosen.resize(rows);
    std::iota(chosen.begin(), chosen.end(), std::size_t{0});
    return chosen;
  }
  chosen.reserve(limit);
  // Selection sampling (Knuth's Algorithm S): keeping row i with probability
  // needed / remaining makes every subset of `limit` rows equally likely and yields them in
  // order. mt19937_64's output is fixed by the standard, so a seed means the same sample on
  // every platform; the modulo bias is below 2^-40 for any realistic row count.
  std::mt19937_64 rng(seed);
  std::size_t needed = limit;
  for (std::size_t i = 0; i < rows && needed > 0; ++i) {
    if (rng() % (rows - i) < needed) {
      chosen.push_back(i);
      --needed;
    }
  }
  return chosen;
}

Eigen::VectorXd mean_of_rows(const float* values, std::size_t dim, std::span<const std::size_t> chosen,
                             std::size_t threads) {
  const auto d = static_cast<Eigen::Index>(dim);
  const std::size_t workers = std::min(resolve_threads(threads), std::max<std::size_t>(1, chosen.size() / kBlockRows));
  std::vector<Eigen::VectorXd> partial(workers, Eigen::VectorXd::Zero(d));
  run_workers(workers, [&](std::size_t w) {
    const std::size_t begin = chosen.size() * w / workers;
    const std::size_t end = chosen.size() * (w + 1) / workers;
    for (std::size_t i = begin; i < end; ++i) {
      partial[w] += Eigen::Map<const Eigen::VectorXf>(values + chosen[i] * dim, d).cast<double>();
    }
  });
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(d);
  for (const auto& p : partial) sum += p;  // in worker order: deterministic
  return sum / static_cast<double>(std::max<std::size_t>(1, chosen.size()));
}

Eigen::MatrixXd second_moment(const float* values, std::size_t dim, std::span<const std::size_t> chosen,
                              const Eigen::VectorXd& shift, std::size_t threads) {
  const auto d = static_cast<Eigen::Index>(dim);
  const std::size_t blocks = (chosen.size() + kBlockRows - 1) / kBlockRows;
  const std::size_t workers = std::min(resolve_threads(threads), std::max<std::size_t>(1, blocks));
  std::vector<Eigen::MatrixXd> partial(workers);
  run_workers(workers, [&](std::size_t w) {
    Eigen::MatrixXd& sum = partial[w];
    sum = Eigen::MatrixXd::Zero(d, d);
    // Column j holds one row of the input, so the update is sum += gathered * gathered^T.
    Eigen::MatrixXd gathered(d, static_cast<Eigen::Index>(kBlockRows));
    // Block b goes to worker b % workers, so the summation order depends only on `workers`.
    for (std::size_t b = w; b < blocks; b += workers) {
      const std::size_t first = b * kBlockRows;
      const std::size_t count = std::min(kBlockRows, chosen.size() - first);
      for (std::size_t j = 0; j < count; ++j) {
        auto column = gathered.col(static_cast<Eigen::Index>(j));
        column = Eigen::Map<const Eigen::VectorXf>(values + chosen[first + j] * dim, d).cast<double>();
        if (shift.size() != 0) column -= shift;
      }
      sum.selfadjointView<Eigen::Lower>().rankUpdate(gathered.leftCols(static_cast<Eigen::Index>(count)));
    }
  });
  Eigen::MatrixXd total = Eigen::MatrixXd::Zero(d, d);
  for (const auto& p : partial) total += p;
  // rankUpdate fills the lower triangle only.
  total.triangularView<Eigen::StrictlyUpper>() = total.transpose();
  return total / static_cast<double>(std::max<std::size_t>(1, chosen.size()));
}

Eigenbasis descending_eigenbasis(const Eigen::MatrixXd& symmetric) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(symmetric);
  if (solver.info() != Eigen::Success) {
    throw Error("LeanVec: the eigen decomposition of a " + std::to_string(symmetric.rows()) + "x" +
                std::to_string(symmetric.cols()) + " second-moment matrix did not converge");
  }
  // Eigen sorts ascending; LeanVec wants the leading directions first.
  Eigenbasis basis;
  basis.values = solver.eigenvalues().reverse().cwiseMax(0.0);
  basis.vectors = solver.eigenvectors().rowwise().reverse();
  return basis;
}

std::size_t dims_for_explained_variance(const Eigen::VectorXd& descending_values, double fraction) {
  const auto dim = static_cast<std::size_t>(descending_values.size());
  const double total = descending_values.sum();
  std::size_t d = 1;
  if (total > 0) {
    double held = 0;
    for (d = 0; d < dim; ++d) {
      held += descending_values[static_cast<Eigen::Index>(d)];
      if (held >= fraction * total) break;
    }
    ++d;
  }
  return std::clamp<std::size_t>(d, 1, dim - 1);
}

double pair_error(const Eigen::MatrixXd& kq, const Eigen::MatrixXd& kx, const Maps& maps) {
  // tr(M^T K_Q M K_X) with M = I - A B^T, expanded so that only D x d products are formed:
  // tr(A^T K_Q A B^T K_X B) - 2 <K_Q A, K_X B>_F + <K_Q, K_X>_F.
  const Eigen::MatrixXd kq_a = kq * maps.query;
  const Eigen::MatrixXd kx_b = kx * maps.data;
  const Eigen::MatrixXd query_gram = maps.query.transpose() * kq_a;
  const Eigen::MatrixXd data_gram = maps.data.transpose() * kx_b;
  const double error =
      (query_gram * data_gram).trace() - 2 * kq_a.cwiseProduct(kx_b).sum() + kq.cwiseProduct(kx).sum();
  // Rounding can take an almost exact fit slightly below zero.
  return std::max(0.0, error);
}

Maps sphering(const Eigen::MatrixXd& kq, const Eigen::MatrixXd& kx, std::size_t d) {
  // With A' = K_Q^{1/2} A and B' = K_X^{1/2} B the error is ||A' B'^T - K_Q^{1/2} K_X^{1/2}||_F^2,
  // minimised by the rank-d truncated SVD (Eckart-Young); the singular values are split evenly
  // between the two sides.
  const Roots q = ridged_roots(kq);
  const Roots x = ridged_roots(kx);
  // The top d singular triplets of M = K_Q^{1/2} K_X^{1/2} from the eigenvectors of
  // M^T M: V, Sigma^2, and U = M V Sigma^{-1}.
  const Eigen::MatrixXd product = q.root * x.root;
  const Eigenbasis gram = descending_eigenbasis(product.transpose() * product);
  const auto n = static_cast<Eigen::Index>(d);
  const Eigen::MatrixXd right = gram.vectors.leftCols(n);
  const Eigen::ArrayXd inverse = inverse_singular_values(gram.values.head(n));
  const Eigen::MatrixXd left = product * right * inverse.matrix().asDiagonal();
  const Eigen::VectorXd split = gram.values.head(n).array().max(0.0).sqrt().sqrt().matrix();  // sqrt(sigma)
  Maps maps;
  maps.query = q.inverse_root * left * split.asDiagonal();
  maps.data = x.inverse_root * right * split.asDiagonal();
  return maps;
}

Maps frank_wolfe(const Eigen::MatrixXd& kq, const Eigen::MatrixXd& kx, Maps current) {
  // Gradients (LeanVec paper, halved: the oracle ignores scale):
  //   grad_A = K_Q A (B^T K_X B) - K_Q K_X B,   grad_B = K_X B (A^T K_Q A) - K_X K_Q A.
  const Eigen::MatrixXd cross = kq * kx;  // K_Q K_X; its transpose is K_X K_Q
  double previous = pair_error(kq, kx, current);
  Maps best = current;
  double best_error = previous;
  // Counting from t = 1 makes the first step 1/2^0.999: at t = 0 the step would be 1, and the
  // first update would discard the starting point altogether.
  for (std::size_t t = 1; t <= kMaxSteps; ++t) {
    const double step = 1.0 / std::pow(static_cast<double>(t + 1), kStepExponent);
    const Eigen::MatrixXd grad_a =
        kq * current.query * (current.data.transpose() * kx * current.data) - cross * current.data;
    current.query = (1 - step) * current.query + step * spectral_ball_vertex(grad_a);
    const Eigen::MatrixXd grad_b =
        kx * current.data * (current.query.transpose() * kq * current.query) - cross.transpose() * current.query;
    current.data = (1 - step) * current.data + step * spectral_ball_vertex(grad_b);

    const double error = pair_error(kq, kx, current);
    // Steps of a fixed schedule can overshoot; keeping the best iterate means the result is never
    // worse than the start.
    if (error < best_error) {
      best = current;
      best_error = error;
    }
    if (std::abs(error - previous) <= kRelativeTolerance * previous) break;
    previous = error;
  }
  return best;
}

}  // namespace quiver::quant::leanvec_training
