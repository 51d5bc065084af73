// LeanVec: in-distribution PCA on data of known rank, the out-of-distribution solvers on
// synthetic query/data cones and on real attention queries and keys (attn-pylm-l3h0),
// batch projection, the exact error formula, save/load and rejection of bad input.
#include "quant/leanvec.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "quiver/error.h"

namespace quiver::quant {
namespace {

// Row-major float vectors owned by the test.
struct Rows {
  std::vector<float> values;
  std::size_t rows = 0;
  std::size_t dim = 0;

  Rows(std::size_t r, std::size_t d) : values(r * d), rows(r), dim(d) {}
  const float* row(std::size_t i) const { return values.data() + i * dim; }
  float* row(std::size_t i) { return values.data() + i * dim; }
  std::span<const float> span(std::size_t i) const { return {row(i), dim}; }
};

// fbin: u32 n, u32 dim, then n * dim little-endian float32; at most max_rows rows are read.
Rows read_fbin(const std::string& path, std::size_t max_rows = std::numeric_limits<std::size_t>::max()) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  std::uint32_t header[2] = {0, 0};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  REQUIRE(in.good());
  Rows out(std::min<std::size_t>(header[0], max_rows), header[1]);
  in.read(reinterpret_cast<char*>(out.values.data()), static_cast<std::streamsize>(out.values.size() * sizeof(float)));
  REQUIRE_MESSAGE(in.good(), path, " is shorter than its header says");
  return out;
}

double dot(const float* a, const float* b, std::size_t n) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += double{a[i]} * b[i];
  return sum;
}

std::vector<float> project_queries(const LeanVec& lean, const Rows& queries) {
  std::vector<float> out(queries.rows * lean.output_dim());
  for (std::size_t i = 0; i < queries.rows; ++i) {
    lean.project_query(queries.span(i), {out.data() + i * lean.output_dim(), lean.output_dim()});
  }
  return out;
}

std::vector<float> project_data(const LeanVec& lean, const Rows& data) {
  std::vector<float> out(data.rows * lean.output_dim());
  lean.project_data_batch(data.values.data(), data.rows, out.data(), 2);
  return out;
}

// 64-d data with 8 strong random orthonormal directions (standard deviations 5 down to 3.25,
// so the 8th still holds > 5 % of the variance), isotropic noise of 0.05 and a mean of 3 per dim.
Rows low_rank_data(std::size_t rows, std::uint64_t seed) {
  constexpr std::size_t kDim = 64;
  constexpr std::size_t kRank = 8;
  std::mt19937_64 rng(1234);  // the same subspace for every seed
  std::normal_distribution<double> normal(0, 1);
  std::vector<std::vector<double>> basis;
  while (basis.size() < kRank) {  // Gram-Schmidt on Gaussian vectors
    std::vector<double> v(kDim);
    for (double& x : v) x = normal(rng);
    for (const auto& b : basis) {
      const double p = std::inner_product(v.begin(), v.end(), b.begin(), 0.0);
      for (std::size_t i = 0; i < kDim; ++i) v[i] -= p * b[i];
    }
    const double norm = std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0));
    for (double& x : v) x /= norm;
    basis.push_back(v);
  }
  rng.seed(seed);
  Rows out(rows, kDim);
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = out.row(r);
    for (std::size_t i = 0; i < kDim; ++i) row[i] = static_cast<float>(3.0 + 0.05 * normal(rng));
    for (std::size_t k = 0; k < kRank; ++k) {
      const double z = (5.0 - 0.25 * static_cast<double>(k)) * normal(rng);
      for (std::size_t i = 0; i < kDim; ++i) row[i] += static_cast<float>(z * basis[k][i]);
    }
  }
  return out;
}

// Out-of-distribution pairs in 64-d, axis-aligned (every solver is rotation-equivariant):
//   data:    mean 3 along dim 0; standard deviation 4 on dims 1..8, 2.5 on dims 9..16, 0.5 elsewhere;
//   queries: mean 3 along dim 63; standard deviation 3 on dims 9..24, 0.5 elsewhere.
// The data's leading directions (1..8) are where queries barely reach, so PCA keeps the
// wrong 8 dims; <q, x> lives mostly on dims 9..16, which an OOD fit should keep.
Rows cone(std::size_t rows, bool queries, std::uint64_t seed) {
  constexpr std::size_t kDim = 64;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  Rows out(rows, kDim);
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = out.row(r);
    for (std::size_t i = 0; i < kDim; ++i) {
      float sd = 0.5f;
      if (queries && i >= 9 && i <= 24) sd = 3.0f;
      if (!queries && i >= 1 && i <= 8) sd = 4.0f;
      if (!queries && i >= 9 && i <= 16) sd = 2.5f;
      row[i] = sd * normal(rng);
    }
    row[queries ? kDim - 1 : 0] += 3.0f;
  }
  return out;
}

LeanVecOptions ood_options(std::size_t d, LeanVecSolver solver) {
  LeanVecOptions options;
  options.kind = LeanVecKind::OutOfDistribution;
  options.target_dim = d;
  options.solver = solver;
  options.threads = 2;
  return options;
}

LeanVecOptions id_options(std::size_t d) {
  LeanVecOptions options;
  options.target_dim = d;
  options.threads = 2;
  return options;
}

LeanVec train(const Rows& data, const Rows& queries, const LeanVecOptions& options) {
  return LeanVec::train(data.values.data(), data.rows, data.dim, queries.values.data(), queries.rows, options);
}

double error_of(const LeanVec& lean, const Rows& data, const Rows& queries) {
  return lean.inner_product_error(data.values.data(), data.rows, queries.values.data(), queries.rows, 2);
}

// Mean over all pairs of (<q', x'> - <A^T q, B^T x>)^2, pair by pair, with q' and x' the
// vectors as the maps see them (inner_product_error's definition).
double brute_force_error(const LeanVec& lean, const Rows& data, const Rows& queries, const std::vector<float>& mean) {
  const std::vector<float> pq = project_queries(lean, queries);
  const std::vector<float> px = project_data(lean, data);
  const std::size_t d = lean.output_dim();
  double sum = 0;
  for (std::size_t qi = 0; qi < queries.rows; ++qi) {
    for (std::size_t xi = 0; xi < data.rows; ++xi) {
      double exact = 0;
      for (std::size_t k = 0; k < data.dim; ++k) {
        const double x = double{data.row(xi)[k]} - (mean.empty() ? 0.0 : mean[k]);
        const double q = double{queries.row(qi)[k]} - (lean.centre_queries() ? mean[k] : 0.0);
        exact += q * x;
      }
      const double diff = exact - dot(pq.data() + qi * d, px.data() + xi * d, d);
      sum += diff * diff;
    }
  }
  return sum / static_cast<double>(queries.rows * data.rows);
}

std::vector<float> column_mean(const Rows& data) {
  std::vector<double> sum(data.dim, 0.0);
  for (std::size_t r = 0; r < data.rows; ++r) {
    for (std::size_t k = 0; k < data.dim; ++k) sum[k] += data.row(r)[k];
  }
  std::vector<float> mean(data.dim);
  for (std::size_t k = 0; k < data.dim; ++k) mean[k] = static_cast<float>(sum[k] / static_cast<double>(data.rows));
  return mean;
}

// Indices of the k largest scores, best first.
std::vector<std::size_t> top_k(const std::vector<double>& scores, std::size_t k) {
  std::vector<std::size_t> ids(scores.size());
  std::iota(ids.begin(), ids.end(), std::size_t{0});
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                    [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  ids.resize(k);
  return ids;
}

// The exact top 10 keys by <q, k> for each query.
std::vector<std::vector<std::size_t>> exact_top_10(const Rows& keys, const Rows& queries) {
  std::vector<std::vector<std::size_t>> truth(queries.rows);
  std::vector<double> scores(keys.rows);
  for (std::size_t q = 0; q < queries.rows; ++q) {
    for (std::size_t k = 0; k < keys.rows; ++k) scores[k] = dot(queries.row(q), keys.row(k), keys.dim);
    truth[q] = top_k(scores, 10);
  }
  return truth;
}

// Recall@10 of ranking `keys` by <A^T q, B^T k> against the exact top 10 by <q, k>.
double recall_at_10(const LeanVec& lean, const Rows& keys, const Rows& queries,
                    const std::vector<std::vector<std::size_t>>& truth) {
  const std::vector<float> pk = project_data(lean, keys);
  const std::vector<float> pq = project_queries(lean, queries);
  const std::size_t d = lean.output_dim();
  std::size_t found = 0;
  std::vector<double> approx(keys.rows);
  for (std::size_t q = 0; q < queries.rows; ++q) {
    for (std::size_t k = 0; k < keys.rows; ++k) approx[k] = dot(pq.data() + q * d, pk.data() + k * d, d);
    for (const std::size_t id : top_k(approx, 10)) found += std::count(truth[q].begin(), truth[q].end(), id);
  }
  return static_cast<double>(found) / static_cast<double>(10 * queries.rows);
}

std::string saved(const LeanVec& lean) {
  std::ostringstream out;
  lean.save(out);
  return out.str();
}

LeanVec loaded(const std::string& bytes) {
  std::istringstream in(bytes);
  return LeanVec::load(in, "test.leanvec");
}

TEST_CASE("LeanVec-ID finds the rank of low-rank data and preserves distances and inner products") {
  const Rows data = low_rank_data(20000, 1);
  LeanVecOptions options;
  options.threads = 2;  // target_dim 0: chosen by explained_variance 0.95
  const LeanVec lean = LeanVec::train(data.values.data(), data.rows, data.dim, nullptr, 0, options);
  CHECK(lean.kind() == LeanVecKind::InDistribution);
  CHECK(lean.input_dim() == 64);
  CHECK(lean.output_dim() == 8);

  const std::vector<float> px = project_data(lean, data);
  const std::size_t d = lean.output_dim();
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<std::size_t> pick(0, data.rows - 1);
  double worst_distance = 0;
  for (int t = 0; t < 500; ++t) {
    const std::size_t a = pick(rng);
    const std::size_t b = pick(rng);
    if (a == b) continue;
    double full = 0;
    double reduced = 0;
    for (std::size_t k = 0; k < data.dim; ++k) full += std::pow(double{data.row(a)[k]} - data.row(b)[k], 2);
    for (std::size_t k = 0; k < d; ++k) reduced += std::pow(double{px[a * d + k]} - px[b * d + k], 2);
    worst_distance = std::max(worst_distance, std::abs(std::sqrt(reduced) - std::sqrt(full)) / std::sqrt(full));
  }
  MESSAGE("LeanVec-ID on rank-8 data: worst relative L2 distance error ", worst_distance);
  CHECK(worst_distance < 0.05);

  // Inner-product queries are not centred: <P^T q, P^T (x - mu)> + <q, mu> estimates <q, x>.
  const Rows queries = low_rank_data(100, 2);
  const std::vector<float> pq = project_queries(lean, queries);
  const std::vector<float> mean = column_mean(data);
  double worst_ip = 0;
  for (std::size_t q = 0; q < queries.rows; ++q) {
    const double q_norm = std::sqrt(dot(queries.row(q), queries.row(q), data.dim));
    for (std::size_t x = 0; x < 100; ++x) {
      const double exact = dot(queries.row(q), data.row(x), data.dim);
      const double estimate = dot(pq.data() + q * d, px.data() + x * d, d) + dot(queries.row(q), mean.data(), data.dim);
      const double x_norm = std::sqrt(dot(data.row(x), data.row(x), data.dim));
      worst_ip = std::max(worst_ip, std::abs(estimate - exact) / (q_norm * x_norm));
    }
  }
  MESSAGE("LeanVec-ID on rank-8 data: worst inner-product error / (|q| |x|) ", worst_ip);
  CHECK(worst_ip < 0.01);

  // Training is deterministic.
  CHECK(saved(LeanVec::train(data.values.data(), data.rows, data.dim, nullptr, 0, options)) == saved(lean));

  // With centre_queries, a query is projected exactly as data.
  options.centre_queries = true;
  const LeanVec centred = LeanVec::train(data.values.data(), data.rows, data.dim, nullptr, 0, options);
  std::vector<float> as_query(d);
  std::vector<float> as_data(d);
  centred.project_query(queries.span(0), as_query);
  centred.project_data(queries.span(0), as_data);
  CHECK(as_query == as_data);

  // An explicit target_dim wins over explained_variance.
  options.target_dim = 12;
  CHECK(LeanVec::train(data.values.data(), data.rows, data.dim, nullptr, 0, options).output_dim() == 12);
}

TEST_CASE("project_data_batch agrees with project_data") {
  const Rows data = low_rank_data(1000, 3);  // 3 full blocks of 256 and a partial one
  const Rows queries = cone(500, true, 4);
  for (const bool ood : {false, true}) {
    INFO("out-of-distribution: ", ood);
    const LeanVec lean = ood ? train(data, queries, ood_options(10, LeanVecSolver::Sphering))
                             : train(data, queries, id_options(10));
    for (const std::size_t threads : {1, 2, 3}) {
      std::vector<float> batch(data.rows * 10);
      lean.project_data_batch(data.values.data(), data.rows, batch.data(), threads);
      std::vector<float> one(10);
      double worst = 0;
      for (std::size_t r = 0; r < data.rows; ++r) {
        lean.project_data(data.span(r), one);
        const double norm = std::sqrt(dot(one.data(), one.data(), 10));
        for (std::size_t k = 0; k < 10; ++k) worst = std::max(worst, std::abs(double{batch[r * 10 + k]} - one[k]) / norm);
      }
      CHECK(worst < 1e-5);
    }
  }
}

TEST_CASE("inner_product_error equals the pair-by-pair mean") {
  const Rows data = cone(300, false, 5);
  const Rows queries = cone(80, true, 6);
  const std::vector<float> mean = column_mean(data);
  LeanVecOptions centred = id_options(6);
  centred.centre_queries = true;
  const LeanVec models[] = {train(data, queries, id_options(6)), train(data, queries, centred),
                            train(data, queries, ood_options(6, LeanVecSolver::Sphering))};
  for (const LeanVec& lean : models) {
    // The model's mean is of a sample of the same data, so the column mean is close enough.
    const std::vector<float> shift = lean.kind() == LeanVecKind::InDistribution ? mean : std::vector<float>{};
    const double expected = brute_force_error(lean, data, queries, shift);
    CHECK(error_of(lean, data, queries) == doctest::Approx(expected).epsilon(1e-4));
  }
}

TEST_CASE("LeanVec-OOD beats LeanVec-ID on synthetic out-of-distribution cones") {
  const Rows data = cone(20000, false, 11);
  const Rows train_queries = cone(5000, true, 12);
  const Rows eval_queries = cone(2000, true, 13);
  constexpr std::size_t kDim = 8;
  const LeanVec id = train(data, train_queries, id_options(kDim));
  const LeanVec sphering = train(data, train_queries, ood_options(kDim, LeanVecSolver::Sphering));
  const LeanVec frank_wolfe = train(data, train_queries, ood_options(kDim, LeanVecSolver::FrankWolfe));
  const double id_error = error_of(id, data, eval_queries);
  const double sphering_error = error_of(sphering, data, eval_queries);
  const double fw_error = error_of(frank_wolfe, data, eval_queries);
  MESSAGE("synthetic cones, d = 8, mean squared inner-product error on held-out queries: ID ", id_error,
          ", Sphering ", sphering_error, ", Frank-Wolfe ", fw_error);
  CHECK(sphering_error < 0.5 * id_error);
  CHECK(fw_error < id_error);
  // Sphering is the exact minimiser on the training queries; Frank-Wolfe searches a subset.
  CHECK(error_of(sphering, data, train_queries) <= error_of(frank_wolfe, data, train_queries) * (1 + 1e-6));
}

TEST_CASE("LeanVec-OOD beats LeanVec-ID on real attention queries and keys (attn-pylm-l3h0)" * doctest::test_suite("quality")) {
  const std::string dir = std::string(QUIVER_SHARED_DATA_DIR) + "/attn-pylm-l3h0/";
  const Rows keys = read_fbin(dir + "keys.fbin");
  const Rows train_queries = read_fbin(dir + "queries_train.fbin");
  const Rows eval_queries = read_fbin(dir + "queries_eval.fbin");
  REQUIRE(keys.dim == 128);
  REQUIRE(train_queries.dim == 128);
  REQUIRE(eval_queries.dim == 128);
  // Recall over the first 20000 keys and 200 eval queries keeps the exact scan short.
  Rows recall_keys(20000, 128);
  std::copy_n(keys.values.begin(), recall_keys.values.size(), recall_keys.values.begin());
  Rows recall_queries(200, 128);
  std::copy_n(eval_queries.values.begin(), recall_queries.values.size(), recall_queries.values.begin());
  const auto truth = exact_top_10(recall_keys, recall_queries);

  for (const std::size_t d : {32, 64}) {
    struct Result {
      std::string name;
      double seconds;
      double error;
      double recall;
    };
    std::vector<Result> results;
    for (const auto& [name, options] : {std::pair{std::string("ID"), id_options(d)},
                                        std::pair{std::string("Sphering"), ood_options(d, LeanVecSolver::Sphering)},
                                        std::pair{std::string("Frank-Wolfe"), ood_options(d, LeanVecSolver::FrankWolfe)}}) {
      const auto start = std::chrono::steady_clock::now();
      const LeanVec lean = train(keys, train_queries, options);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      results.push_back({name, seconds, error_of(lean, keys, eval_queries), recall_at_10(lean, recall_keys, recall_queries, truth)});
      MESSAGE("attn-pylm-l3h0 d = ", d, " ", name, ": train ", seconds, " s (100000 keys, 20000 queries, 2 threads), ",
              "mean squared inner-product error on queries_eval ", results.back().error, ", recall@10 ",
              results.back().recall);
    }
    const Result& id = results[0];
    const Result& sphering = results[1];
    CHECK(sphering.error < id.error);
    CHECK(sphering.recall > id.recall);
  }
}

TEST_CASE("save and load round-trip; load rejects truncated and corrupted streams") {
  const Rows data = cone(2000, false, 21);
  const Rows queries = cone(500, true, 22);
  LeanVecOptions centred = id_options(4);
  centred.centre_queries = true;
  Rows narrow(data.rows, 16);
  Rows narrow_queries(queries.rows, 16);
  for (std::size_t r = 0; r < data.rows; ++r) std::copy_n(data.row(r), 16, narrow.row(r));
  for (std::size_t r = 0; r < queries.rows; ++r) std::copy_n(queries.row(r), 16, narrow_queries.row(r));

  for (const LeanVecOptions& options : {centred, ood_options(4, LeanVecSolver::Sphering)}) {
    const LeanVec lean = train(narrow, narrow_queries, options);
    const std::string bytes = saved(lean);
    INFO("kind: ", lean.kind() == LeanVecKind::InDistribution ? "ID" : "OOD", ", ", bytes.size(), " bytes");

    const LeanVec back = loaded(bytes);
    CHECK(back.kind() == lean.kind());
    CHECK(back.input_dim() == 16);
    CHECK(back.output_dim() == 4);
    CHECK(back.centre_queries() == lean.centre_queries());
    CHECK(saved(back) == bytes);
    for (std::size_t r = 0; r < 20; ++r) {
      std::vector<float> a(4), b(4);
      lean.project_data(narrow.span(r), a);
      back.project_data(narrow.span(r), b);
      CHECK(a == b);
      lean.project_query(narrow_queries.span(r), a);
      back.project_query(narrow_queries.span(r), b);
      CHECK(a == b);
    }

    for (std::size_t size = 0; size < bytes.size(); ++size) {
      INFO("truncated to ", size);
      CHECK_THROWS_AS(loaded(bytes.substr(0, size)), CorruptFile);
    }
    for (std::size_t at = 0; at < bytes.size(); ++at) {
      INFO("byte ", at, " flipped");
      std::string bad = bytes;
      bad[at] = static_cast<char>(bad[at] ^ 0x5a);
      if (at >= 8 && at < 12) {
        CHECK_THROWS_AS(loaded(bad), IncompatibleVersion);  // the version field: a "newer" format
      } else {
        CHECK_THROWS_AS(loaded(bad), CorruptFile);
      }
    }
  }

  // A header claiming huge dimensions fails on the missing bytes, not on allocation.
  std::string huge = saved(train(narrow, narrow_queries, centred)).substr(0, 28);
  const std::uint32_t dims[2] = {65536, 65535};
  std::memcpy(huge.data() + 20, dims, sizeof dims);  // the test runs on little-endian hosts
  CHECK_THROWS_WITH_AS(loaded(huge), doctest::Contains("truncated"), CorruptFile);
}

TEST_CASE("train and project reject bad input with InvalidArgument") {
  const Rows data = cone(500, false, 31);
  const Rows queries = cone(100, true, 32);
  const float* x = data.values.data();
  const float* q = queries.values.data();
  const auto ood = ood_options(8, LeanVecSolver::Sphering);

  CHECK_THROWS_WITH_AS(LeanVec::train(x, data.rows, 64, nullptr, 0, ood), doctest::Contains("needs sample queries"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(LeanVec::train({x, data.rows, 64}, {q, queries.rows, 32}, ood),
                       doctest::Contains("sample queries have dimension 32"), InvalidArgument);
  CHECK_THROWS_WITH_AS(LeanVec::train(x, data.rows, 64, q, 7, ood), doctest::Contains("7 sample queries"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(LeanVec::train(x, data.rows, 64, q, queries.rows, ood_options(64, LeanVecSolver::Sphering)),
                       doctest::Contains("target_dim 64 must be less than the data dimension 64"), InvalidArgument);
  CHECK_THROWS_WITH_AS(LeanVec::train(x, data.rows, 64, nullptr, 0, id_options(80)),
                       doctest::Contains("target_dim 80"), InvalidArgument);
  CHECK_THROWS_WITH_AS(LeanVec::train(x, data.rows, 64, q, queries.rows, ood_options(0, LeanVecSolver::Sphering)),
                       doctest::Contains("needs target_dim > 0"), InvalidArgument);
  LeanVecOptions bad_fraction;
  bad_fraction.explained_variance = 1.5;
  CHECK_THROWS_WITH_AS(LeanVec::train(x, data.rows, 64, nullptr, 0, bad_fraction),
                       doctest::Contains("explained_variance"), InvalidArgument);
  CHECK_THROWS_AS(LeanVec::train(nullptr, 0, 64, nullptr, 0, id_options(8)), InvalidArgument);

  Rows with_nan = data;
  with_nan.row(123)[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(LeanVec::train(with_nan.values.data(), data.rows, 64, nullptr, 0, id_options(8)),
                       doctest::Contains("data row 123 holds a NaN"), InvalidArgument);
  Rows with_inf = queries;
  with_inf.row(42)[0] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(LeanVec::train(x, data.rows, 64, with_inf.values.data(), queries.rows, ood),
                       doctest::Contains("sample query row 42"), InvalidArgument);

  const LeanVec lean = LeanVec::train(x, data.rows, 64, q, queries.rows, ood);
  std::vector<float> out(8);
  std::vector<float> wrong_out(9);
  CHECK_THROWS_AS(lean.project_data(std::span<const float>(x, 63), out), InvalidArgument);
  CHECK_THROWS_AS(lean.project_query(std::span<const float>(q, 64), wrong_out), InvalidArgument);
}

}  // namespace
}  // namespace quiver::quant
