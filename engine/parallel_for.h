// Runs a loop body over [0, n) on several threads with dynamic chunking, so uneven
// work (graph inserts, searches of varying length) stays balanced. The first
// exception thrown by any worker is rethrown on the calling thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace quiver::engine {

inline std::size_t resolve_threads(std::size_t requested) {
  if (requested != 0) return requested;
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

// body(index, worker) for every index in [0, n); `worker` is in [0, threads).
template <typename Body>
void parallel_for(std::size_t n, std::size_t threads, Body&& body, std::size_t chunk = 16) {
  threads = std::min(resolve_threads(threads), std::max<std::size_t>(1, (n + chunk - 1) / chunk));
  if (threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) body(i, std::size_t{0});
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](std::size_t worker) {
    try {
      while (!failed.load(std::memory_order_relaxed)) {
        std::size_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
        if (begin >= n) break;
        std::size_t end = std::min(n, begin + chunk);
        for (std::size_t i = begin; i < end; ++i) body(i, worker);
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) workers.emplace_back(run, t);
  run(0);
  for (auto& worker : workers) worker.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace quiver::engine
