#include "exact_knn.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "quiver/error.h"

namespace quiver::cli {
namespace {

constexpr std::size_t query_block = 8;

// libquiver's SIMD kernels are internal to it, so ground truth has its own. Sixteen
// independent accumulators let the compiler vectorise the sum without -ffast-math (a
// single accumulator is a serial dependency it may not reorder); on x86-64 the
// compiler also emits an AVX2+FMA clone chosen at run time, so the binary still runs on
// any x86-64 CPU.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QUIVER_CLI_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define QUIVER_CLI_KERNEL
#endif

QUIVER_CLI_KERNEL float squared_l2(const float* a, const float* b, std::size_t n) {
  float acc[16] = {};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (std::size_t j = 0; j < 16; ++j) {
      const float d = a[i + j] - b[i + j];
      acc[j] += d * d;
    }
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += (a[i] - b[i]) * (a[i] - b[i]);
  for (float v : acc) sum += v;
  return sum;
}

QUIVER_CLI_KERNEL float dot(const float* a, const float* b, std::size_t n) {
  float acc[16] = {};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (std::size_t j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (float v : acc) sum += v;
  return sum;
}

Matrix normalised(MatrixView m) {
  Matrix out(m.rows, m.cols);
  for (std::size_t r = 0; r < m.rows; ++r) {
    const auto in = m.row(r);
    const float norm = std::sqrt(dot(in.data(), in.data(), m.cols));
    auto row = out.row(r);
    for (std::size_t c = 0; c < m.cols; ++c) row[c] = norm > 0 ? in[c] / norm : 0.0f;
  }
  return out;
}

// A bounded max-heap on cost (lower cost = better), ties broken by lower id.
using Candidate = std::pair<float, std::int32_t>;

void knn_block(MatrixView base, MatrixView queries, std::size_t first, std::size_t count, bool is_l2,
               std::size_t k, ExactNeighbours& out) {
  std::vector<std::priority_queue<Candidate>> heaps(count);
  for (std::size_t r = 0; r < base.rows; ++r) {
    const float* x = base.row(r).data();
    for (std::size_t q = 0; q < count; ++q) {
      const float* y = queries.row(first + q).data();
      // Cost is minimised: squared distance for L2, negated similarity otherwise.
      const float cost = is_l2 ? squared_l2(x, y, base.cols) : -dot(x, y, base.cols);
      auto& heap = heaps[q];
      const Candidate c{cost, static_cast<std::int32_t>(r)};
      if (heap.size() < k) {
        heap.push(c);
      } else if (c < heap.top()) {
        heap.pop();
        heap.push(c);
      }
    }
  }
  for (std::size_t q = 0; q < count; ++q) {
    auto& heap = heaps[q];
    auto ids = out.ids.row(first + q);
    auto scores = out.scores.row(first + q);
    std::fill(ids.begin(), ids.end(), -1);
    std::fill(scores.begin(), scores.end(), std::numeric_limits<float>::quiet_NaN());
    for (std::size_t i = heap.size(); i-- > 0;) {
      ids[i] = heap.top().second;
      scores[i] = is_l2 ? heap.top().first : -heap.top().first;
      heap.pop();
    }
  }
}

}  // namespace

ExactNeighbours exact_knn(MatrixView base, MatrixView queries, Metric metric, std::size_t k,
                          std::size_t threads, const ProgressCallback& progress) {
  if (base.cols != queries.cols) {
    throw InvalidArgument("queries have dimension " + std::to_string(queries.cols) + ", base vectors " +
                          std::to_string(base.cols));
  }
  if (k == 0) throw InvalidArgument("k must be at least 1");
  if (base.rows > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw InvalidArgument("exact k-NN supports at most 2^31-1 base vectors");
  }

  Matrix base_normalised;
  Matrix queries_normalised;
  if (metric == Metric::Cosine) {
    base_normalised = normalised(base);
    queries_normalised = normalised(queries);
    base = base_normalised.view();
    queries = queries_normalised.view();
  }

  ExactNeighbours out{IntMatrix(queries.rows, k), Matrix(queries.rows, k)};
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t blocks = (queries.rows + query_block - 1) / query_block;
  threads = std::min(threads, std::max<std::size_t>(blocks, 1));

  std::atomic<std::size_t> next_block{0};
  std::atomic<std::size_t> queries_done{0};
  std::atomic<bool> stop{false};
  const bool is_l2 = metric == Metric::L2;
  auto worker = [&] {
    for (std::size_t b; !stop.load(std::memory_order_relaxed) && (b = next_block.fetch_add(1)) < blocks;) {
      const std::size_t first = b * query_block;
      const std::size_t count = std::min(query_block, queries.rows - first);
      knn_block(base, queries, first, count, is_l2, k, out);
      queries_done.fetch_add(count);
    }
  };

  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
    // The calling thread reports progress, as the library's callbacks promise.
    while (progress && queries_done.load() < queries.rows) {
      if (!progress(Progress{queries_done.load(), queries.rows})) {
        stop.store(true);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (stop.load()) throw Cancelled("exact k-NN cancelled");
  if (progress) progress(Progress{queries.rows, queries.rows});
  return out;
}

}  // namespace quiver::cli
