// Runs a loop body over [0, n) on a fixed number of threads, handing out indices one
// at a time so that uneven per-item work (graph searches) stays balanced. Used for the
// hnswlib peer's batch mode and build, which have no threading of their own.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace quiver::bench {

// Calls body(i) for every i in [0, n) on `threads` threads (the caller's thread is one
// of them). The first exception thrown by any call stops the loop and is rethrown here.
template <typename Body>
void parallel_for(std::size_t n, std::size_t threads, const Body& body) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        body(i);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;
      }
    }
  };
  const std::size_t helpers = std::min(threads, n) > 1 ? std::min(threads, n) - 1 : 0;
  {
    std::vector<std::jthread> pool;
    pool.reserve(helpers);
    for (std::size_t t = 0; t < helpers; ++t) pool.emplace_back(worker);
    worker();
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace quiver::bench
