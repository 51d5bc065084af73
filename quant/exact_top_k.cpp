#include "quant/exact_top_k.h"

#include <Eigen/Dense>
#include <algorithm>
#include <string>
#include <utility>

#include "quant/leanvec_training.h"
#include "quiver/error.h"

namespace quiver::quant {
namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Queries scored together, and data rows per product: a 64 x 8192 score block (2 MiB)
// per worker, whatever the collection's size.
constexpr std::size_t kQueryBlock = 64;
constexpr std::size_t kDataBlock = 8192;

// (score, row) with the better entry first: higher score, then lower row.
using Entry = std::pair<float, std::uint32_t>;
bool better(const Entry& a, const Entry& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); }

}  // namespace

std::vector<std::uint32_t> exact_top_k(MatrixView data, MatrixView queries, std::span<const std::size_t> chosen,
                                       std::size_t k, std::size_t threads) {
  if (data.cols != queries.cols) {
    throw InvalidArgument("exact_top_k: queries have dimension " + std::to_string(queries.cols) +
                          ", the data " + std::to_string(data.cols));
  }
  if (k == 0) throw InvalidArgument("exact_top_k: k must be positive");
  for (const std::size_t q : chosen) {
    if (q >= queries.rows) {
      throw InvalidArgument("exact_top_k: query row " + std::to_string(q) + " of " + std::to_string(queries.rows));
    }
  }
  k = std::min(k, data.rows);
  const auto dim = static_cast<Eigen::Index>(data.cols);
  const std::size_t blocks = (chosen.size() + kQueryBlock - 1) / kQueryBlock;
  const std::size_t workers = std::min(leanvec_training::resolve_threads(threads), std::max<std::size_t>(1, blocks));
  std::vector<std::uint32_t> ids(chosen.size() * k);
  leanvec_training::run_workers(workers, [&](std::size_t w) {
    RowMajorF block_queries(static_cast<Eigen::Index>(kQueryBlock), dim);
    RowMajorF scores;
    // One min-heap (worst entry on top, by `better`) of the best k so far per query.
    std::vector<std::vector<Entry>> best(kQueryBlock);
    for (std::size_t b = w; b < blocks; b += workers) {
      const std::size_t first = b * kQueryBlock;
      const std::size_t count = std::min(kQueryBlock, chosen.size() - first);
      for (std::size_t i = 0; i < count; ++i) {
        const auto row = queries.row(chosen[first + i]);
        block_queries.row(static_cast<Eigen::Index>(i)) = Eigen::Map<const Eigen::RowVectorXf>(row.data(), dim);
        best[i].clear();
      }
      for (std::size_t start = 0; start < data.rows; start += kDataBlock) {
        const std::size_t rows = std::min(kDataBlock, data.rows - start);
        const Eigen::Map<const RowMajorF> keys(data.data + start * data.cols, static_cast<Eigen::Index>(rows), dim);
        scores.noalias() = block_queries.topRows(static_cast<Eigen::Index>(count)) * keys.transpose();
        for (std::size_t i = 0; i < count; ++i) {
          auto& heap = best[i];
          for (std::size_t j = 0; j < rows; ++j) {
            const Entry entry{scores(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)),
                              static_cast<std::uint32_t>(start + j)};
            if (heap.size() < k) {
              heap.push_back(entry);
              std::push_heap(heap.begin(), heap.end(), better);
            } else if (better(entry, heap.front())) {
              std::pop_heap(heap.begin(), heap.end(), better);
              heap.back() = entry;
              std::push_heap(heap.begin(), heap.end(), better);
            }
          }
        }
      }
      for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t* out = ids.data() + (first + i) * k;
        for (const Entry& entry : best[i]) *out++ = entry.second;
      }
    }
  });
  return ids;
}

}  // namespace quiver::quant
