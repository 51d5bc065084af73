#include "quiver/exact_search.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/parallel_for.h"
#include "quant/distance.h"
#include "quiver/error.h"

namespace quiver {

namespace {

// Queries per block: each data row is read once per block, from cache for the rest.
constexpr std::size_t query_block = 16;

std::vector<float> norms(MatrixView rows, const quant::DistanceKernels& kernels) {
  std::vector<float> result(rows.rows);
  for (std::size_t i = 0; i < rows.rows; ++i) result[i] = std::sqrt(kernels.dot(rows.row(i).data(), rows.row(i).data(), rows.cols));
  return result;
}

}  // namespace

std::vector<std::vector<Hit>> exact_search(MatrixView data, MatrixView queries, std::size_t k, Metric metric,
                                           std::size_t threads, const IdFilter* filter) {
  if (queries.cols != data.cols) {
    throw InvalidArgument("queries have " + std::to_string(queries.cols) + " dimensions but the data has " +
                          std::to_string(data.cols));
  }
  if (k == 0) throw InvalidArgument("k = 0: ask for at least one result");
  const auto& kernels = quant::kernels();
  std::vector<float> data_norms = metric == Metric::Cosine ? norms(data, kernels) : std::vector<float>{};

  std::vector<std::vector<Hit>> results(queries.rows);
  std::size_t blocks = (queries.rows + query_block - 1) / query_block;
  engine::parallel_for(blocks, threads, [&](std::size_t block, std::size_t) {
    std::size_t first = block * query_block;
    std::size_t count = std::min(query_block, queries.rows - first);
    // Per query, the best k so far as a max-heap on distance (smaller is closer).
    std::vector<std::vector<std::pair<float, std::uint64_t>>> best(count);
    std::vector<float> query_norms(count, 1.0f);
    if (metric == Metric::Cosine) {
      for (std::size_t q = 0; q < count; ++q) {
        auto row = queries.row(first + q);
        query_norms[q] = std::sqrt(kernels.dot(row.data(), row.data(), row.size()));
      }
    }
    for (std::size_t i = 0; i < data.rows; ++i) {
      if (filter != nullptr && !filter->allows(i)) continue;
      const float* x = data.row(i).data();
      for (std::size_t q = 0; q < count; ++q) {
        const float* query = queries.row(first + q).data();
        float distance;
        if (metric == Metric::L2) {
          distance = kernels.l2_sq(query, x, data.cols);
        } else {
          distance = -kernels.dot(query, x, data.cols);
          if (metric == Metric::Cosine) {
            float scale = query_norms[q] * data_norms[i];
            distance = scale > 0.0f ? distance / scale : 0.0f;
          }
        }
        auto& heap = best[q];
        if (heap.size() < k) {
          heap.emplace_back(distance, i);
          std::push_heap(heap.begin(), heap.end());
        } else if (distance < heap.front().first) {
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = {distance, i};
          std::push_heap(heap.begin(), heap.end());
        }
      }
    }
    bool negate = higher_is_better(metric);
    for (std::size_t q = 0; q < count; ++q) {
      std::sort_heap(best[q].begin(), best[q].end());
      auto& hits = results[first + q];
      hits.reserve(best[q].size());
      for (const auto& [distance, id] : best[q]) hits.push_back({id, negate ? -distance : distance});
    }
  }, 1);
  return results;
}

}  // namespace quiver
