// The linear algebra behind LeanVec: second moments of row samples and the solvers (PCA,
// Sphering, Frank-Wolfe) that turn them into projection matrices. Internal to quant/, so that
// Eigen stays out of leanvec.h and out of every consumer's include path.
#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <thread>
#include <vector>

namespace quiver::quant::leanvec_training {

// 0 means one worker per hardware thread.
std::size_t resolve_threads(std::size_t requested);

// work(w) for every worker w in [0, workers), w = 0 on the calling thread. The first
// exception (by worker number) is rethrown after all have finished.
template <typename Work>
void run_workers(std::size_t workers, Work&& work) {
  if (workers <= 1) {
    work(std::size_t{0});
    return;
  }
  std::vector<std::exception_ptr> errors(workers);
  {
    std::vector<std::jthread> pool;
    pool.reserve(workers - 1);
    for (std::size_t w = 1; w < workers; ++w) {
      pool.emplace_back([&work, &errors, w] {
        try {
          work(w);
        } catch (...) {
          errors[w] = std::current_exception();
        }
      });
    }
    try {
      work(std::size_t{0});
    } catch (...) {
      errors[0] = std::current_exception();
    }
  }  // joins
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

// A seeded uniform choice of min(rows, limit) distinct indices of [0, rows), increasing, so
// that the sampled rows are read front to back.
std::vector<std::size_t> sample_rows(std::size_t rows, std::size_t limit, std::uint64_t seed);

// Mean of the chosen rows of a row-major rows x dim matrix.
Eigen::VectorXd mean_of_rows(const float* values, std::size_t dim, std::span<const std::size_t> chosen,
                             std::size_t threads);

// (1/n) sum of (x - shift)(x - shift)^T over the n chosen rows; an empty `shift` means none.
// Rows are gathered in fixed-size blocks and folded in with a rank update, one D x D
// accumulator per worker, so memory stays O(threads * D * (D + block)) for any sample size.
// Deterministic for a given thread count.
Eigen::MatrixXd second_moment(const float* values, std::size_t dim, std::span<const std::size_t> chosen,
                              const Eigen::VectorXd& shift, std::size_t threads);

// Eigenvalues (descending, negatives from rounding clamped to zero) and matching eigenvectors
// (columns) of a symmetric matrix.
struct Eigenbasis {
  Eigen::VectorXd values;
  Eigen::MatrixXd vectors;
};
Eigenbasis descending_eigenbasis(const Eigen::MatrixXd& symmetric);

// The smallest d whose top-d eigenvalues hold `fraction` of their sum, within [1, D - 1].
std::size_t dims_for_explained_variance(const Eigen::VectorXd& descending_values, double fraction);

// Query map A and data map B (D x d each); the score <A^T q, B^T x> approximates <q, x>.
struct Maps {
  Eigen::MatrixXd query;
  Eigen::MatrixXd data;
};

// Mean over pairs of (<q, x> - <A^T q, B^T x>)^2 = tr((I - AB^T)^T K_Q (I - AB^T) K_X), where
// K_Q and K_X are the mean second moments of the queries and the data.
double pair_error(const Eigen::MatrixXd& kq, const Eigen::MatrixXd& kx, const Maps& maps);

// Closed-form minimiser of pair_error (Eckart-Young on K_Q^{1/2} K_X^{1/2}), with a small
// ridge on both moments so that their inverse square roots exist.
Maps sphering(const Eigen::MatrixXd& kq, const Eigen::MatrixXd& kx, std::size_t d);

// The LeanVec paper's solver: block-coordinate Frank-Wolfe on pair_error over the
// spectral-norm unit ball, started from `initial`. Returns the best iterate seen.
Maps frank_wolfe(const Eigen::MatrixXd& kq, const Eigen::MatrixXd& kx, Maps initial);

}  // namespace quiver::quant::leanvec_training
