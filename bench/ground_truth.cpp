#include "bench/ground_truth.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include <faiss/IndexFlat.h>
#include <omp.h>

#include "bench/vector_math.h"
#include "quiver/error.h"
#include "quiver/vector_io.h"

namespace quiver::bench {
namespace {

namespace fs = std::filesystem;

// FNV-1a over the vectors themselves, so a cache entry can never be reused for other
// data that happens to have the same name and shape.
std::uint64_t fingerprint(MatrixView base, MatrixView queries) {
  std::uint64_t hash = 1469598103934665603ull;
  auto mix = [&hash](MatrixView m) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(m.data);
    const std::size_t size = m.rows * m.cols * sizeof(float);
    for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  };
  mix(base);
  mix(queries);
  return hash;
}

fs::path cache_path(const Dataset& data, std::size_t k, const fs::path& cache_dir) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(fingerprint(data.base.view(), data.queries.view())));
  return cache_dir / "groundtruth" /
         (data.name + "-" + to_string(data.metric) + "-k" + std::to_string(k) + "-nq" +
          std::to_string(data.queries.rows) + "-" + hex + ".ibin");
}

IntMatrix brute_force(const Dataset& data, std::size_t k, std::size_t threads) {
  const std::size_t dim = data.base.cols;
  using faiss_id = faiss::Index::idx_t;
  faiss::IndexFlat index(static_cast<faiss_id>(dim),
                         data.metric == Metric::L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT);
  // Cosine is the inner product of unit vectors.
  Matrix base_copy;
  Matrix query_copy;
  MatrixView base = data.base.view();
  MatrixView queries = data.queries.view();
  if (data.metric == Metric::Cosine) {
    base_copy = normalised_rows(base);
    query_copy = normalised_rows(queries);
    base = base_copy.view();
    queries = query_copy.view();
  }
  omp_set_num_threads(static_cast<int>(threads));
  index.add(static_cast<faiss_id>(base.rows), base.data);
  std::vector<float> distances(queries.rows * k);
  std::vector<faiss_id> labels(queries.rows * k);
  index.search(static_cast<faiss_id>(queries.rows), queries.data, static_cast<faiss_id>(k), distances.data(),
               labels.data());

  IntMatrix out(queries.rows, k);
  for (std::size_t i = 0; i < labels.size(); ++i) out.values[i] = static_cast<std::int32_t>(labels[i]);
  return out;
}

}  // namespace

IntMatrix exact_neighbours(const Dataset& data, std::size_t k, const fs::path& cache_dir, std::size_t threads) {
  if (data.base.rows > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw InvalidArgument("ground truth is stored as int32 ids; " + std::to_string(data.base.rows) +
                          " base vectors are too many");
  }
  if (k > data.base.rows) {
    throw InvalidArgument("--k " + std::to_string(k) + " exceeds the " + std::to_string(data.base.rows) +
                          " base vectors");
  }
  if (data.ground_truth.rows != 0) {
    if (data.ground_truth.cols < k) {
      throw InvalidArgument("the ground truth holds " + std::to_string(data.ground_truth.cols) +
                            " neighbours per query, fewer than --k " + std::to_string(k));
    }
    IntMatrix out(data.ground_truth.rows, k);
    for (std::size_t q = 0; q < out.rows; ++q) {
      const auto row = data.ground_truth.row(q);
      std::copy(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(k), out.row(q).begin());
    }
    return out;
  }

  const fs::path path = cache_path(data, k, cache_dir);
  if (fs::exists(path)) {
    IntMatrix cached = read_int_vectors(path);
    if (cached.rows == data.queries.rows && cached.cols == k) return cached;
    std::cerr << "ground truth: ignoring " << path.string() << " (shape " << cached.rows << "x" << cached.cols
              << ", expected " << data.queries.rows << "x" << k << ")\n";
  }
  std::cerr << "ground truth: brute force over " << data.base.rows << " x " << data.queries.rows << " ... "
            << std::flush;
  IntMatrix truth = brute_force(data, k, threads);
  fs::create_directories(path.parent_path());
  write_int_vectors(path, truth.view());
  std::cerr << "cached in " << path.string() << "\n";
  return truth;
}

}  // namespace quiver::bench
