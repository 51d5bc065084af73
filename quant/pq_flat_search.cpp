#include "quant/pq_flat_search.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "quant/distance.h"
#include "quant/leanvec_training.h"
#include "quant/pq_fast_scan.h"
#include "quiver/error.h"

namespace quiver::quant {
namespace {

using Candidate = std::pair<float, std::uint32_t>;  // estimate, row

// The `count` best (largest) of scores[0, n) in a min-heap: after the heap fills, most
// rows cost one comparison with its root.
void keep_best(const float* scores, std::size_t n, std::size_t count, std::vector<Candidate>& heap) {
  heap.clear();
  const auto worse_first = std::greater<Candidate>();
  for (std::size_t i = 0; i < n; ++i) {
    if (heap.size() < count) {
      heap.emplace_back(scores[i], static_cast<std::uint32_t>(i));
      std::push_heap(heap.begin(), heap.end(), worse_first);
    } else if (scores[i] > heap.front().first) {
      std::pop_heap(heap.begin(), heap.end(), worse_first);
      heap.back() = {scores[i], static_cast<std::uint32_t>(i)};
      std::push_heap(heap.begin(), heap.end(), worse_first);
    }
  }
}

void validate(const QueryAwarePq& pq, const PqCodes& codes, MatrixView vectors, MatrixView queries,
              const PqFlatSearchParams& params) {
  const std::string where = "pq_flat_search: ";
  if (codes.sub_spaces() != pq.sub_spaces() || codes.bits() != pq.bits()) {
    throw InvalidArgument(where + "codes of " + std::to_string(codes.sub_spaces()) + " x " +
                          std::to_string(codes.bits()) + " bits, the quantizer has " +
                          std::to_string(pq.sub_spaces()) + " x " + std::to_string(pq.bits()));
  }
  if (vectors.rows != codes.size() || vectors.cols != pq.dim()) {
    throw InvalidArgument(where + "vectors are " + std::to_string(vectors.rows) + " x " +
                          std::to_string(vectors.cols) + "; expected one row per code (" +
                          std::to_string(codes.size()) + ") of dimension " + std::to_string(pq.dim()));
  }
  if (queries.cols != pq.dim()) {
    throw InvalidArgument(where + "queries have dimension " + std::to_string(queries.cols) + ", the data " +
                          std::to_string(pq.dim()));
  }
  if (params.k == 0) throw InvalidArgument(where + "k must be at least 1");
  if (params.candidates < params.k) {
    throw InvalidArgument(where + "candidates " + std::to_string(params.candidates) + " is below k " +
                          std::to_string(params.k) + "; re-ranking needs at least k candidates");
  }
  if (codes.size() > UINT32_MAX) {
    throw InvalidArgument(where + std::to_string(codes.size()) + " vectors; at most 2^32 - 1 are scanned");
  }
  for (std::size_t r = 0; r < queries.rows; ++r) {
    const auto row = queries.row(r);
    if (!std::all_of(row.begin(), row.end(), [](float v) { return std::isfinite(v); })) {
      throw InvalidArgument(where + "query row " + std::to_string(r) + " holds a NaN or infinite value");
    }
  }
}

}  // namespace

std::vector<std::vector<Hit>> pq_flat_search(const QueryAwarePq& pq, const PqCodes& codes, MatrixView vectors,
                                             MatrixView queries, const PqFlatSearchParams& params) {
  validate(pq, codes, vectors, queries, params);
  std::vector<std::vector<Hit>> results(queries.rows);
  const std::size_t n = codes.size();
  if (n == 0) return results;
  const std::size_t keep = std::min(params.candidates, n);
  const std::size_t m_count = pq.sub_spaces();
  const std::size_t k_count = pq.centroids();
  const F32Kernel dot = kernels().dot;
  const PqFastScanFn scan = pq_fast_scan_kernels().scan;
  const std::size_t workers =
      std::min(leanvec_training::resolve_threads(params.threads), std::max<std::size_t>(1, queries.rows));
  std::atomic<std::size_t> next{0};
  leanvec_training::run_workers(workers, [&](std::size_t) {
    std::vector<float> lut(pq.lookup_table_size());
    std::vector<float> scores(codes.bits() == 4 ? codes.blocks() * kFastScanBlock : n);
    std::vector<std::uint32_t> sums(codes.bits() == 4 ? scores.size() : 0);
    std::vector<Candidate> heap;
    heap.reserve(keep);
    for (std::size_t q = next++; q < queries.rows; q = next++) {
      const auto query = queries.row(q);
      pq.lookup_table(query, lut);
      if (codes.bits() == 8) {
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint8_t* code = codes.row(i);
          float sum = 0;
          for (std::size_t m = 0; m < m_count; ++m) sum += lut[m * k_count + code[m]];
          scores[i] = sum;
        }
      } else {
        // Byte sums rank like the float estimates (one scale for all sub-spaces), so the
        // conversion back to floats is only for the shared selection code.
        const PqFastScanLut quantized = quantize_lut(lut, m_count);
        scan(codes.block(0), codes.blocks(), codes.pairs(), quantized.table.data(), sums.data());
        for (std::size_t i = 0; i < n; ++i) scores[i] = static_cast<float>(sums[i]);
      }
      keep_best(scores.data(), n, keep, heap);
      std::vector<Hit>& hits = results[q];
      hits.reserve(heap.size());
      for (const auto& [estimate, row] : heap) {
        hits.push_back({row, dot(query.data(), vectors.row(row).data(), vectors.cols)});
      }
      std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
        return a.score != b.score ? a.score > b.score : a.id < b.id;
      });
      if (hits.size() > params.k) hits.resize(params.k);
    }
  });
  return results;
}

}  // namespace quiver::quant
