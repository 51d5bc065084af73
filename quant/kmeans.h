// Seeded k-means (k-means++ initialisation, then a fixed number of Lloyd iterations) on
// row-major float vectors: trains the per-sub-space codebooks of QueryAwarePq and assigns
// vectors to them when encoding. Rows are read through a stride, so one sub-space of a
// wider matrix is clustered in place, without a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace quiver::quant {

// `rows` vectors of `dim` floats, the i-th starting at values + i * stride.
struct StridedRows {
  const float* values = nullptr;
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::size_t stride = 0;  // >= dim

  const float* row(std::size_t i) const { return values + i * stride; }
};

struct KMeansOptions {
  std::size_t iterations = 20;  // Lloyd iterations after initialisation; 0 keeps the k-means++ seeds
  // Rows the k-means++ seeding samples from: seeding is k sequential passes, and spreading k
  // seeds needs far fewer rows than refining them does.
  std::size_t init_sample = 16384;
  std::uint64_t seed = 11;
  std::size_t threads = 0;  // 0 = one per hardware thread
};

// k centroids (k x dim row-major) minimising the summed squared distance of the rows to
// their nearest centroid, each row's distance multiplied by its weight (empty `weights`:
// all 1). Deterministic for a given seed and thread count. A cluster left empty by an
// iteration is re-seeded at the row whose weighted distance to its centroid is largest, so
// all k centroids stay distinct. Throws InvalidArgument if rows.rows < k, k == 0, or the
// weights are not one finite, non-negative value per row with a positive sum.
std::vector<float> kmeans(StridedRows rows, std::size_t k, const KMeansOptions& options,
                          std::span<const float> weights = {});

// For every row, the index of its nearest centroid (squared L2, ties to the lower index),
// written to out[i * out_stride]; k <= 256. Blocked into matrix products on `threads`
// threads (0 = all). Returns the summed squared distance.
double assign_nearest(StridedRows rows, const float* centroids, std::size_t k, std::uint8_t* out,
                      std::size_t out_stride, std::size_t threads);

}  // namespace quiver::quant
