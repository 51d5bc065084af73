// Accounting of served requests: one debug line per request, and every interval one
// info line summarising it (requests, errors, p50/p99 latency). The totals feed the
// stats() call. Written by every worker thread; the summary comes from its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <thread>

#include "api/latency_histogram.h"
#include "api/log.h"

namespace quiver::api {

class RequestLog {
 public:
  // interval 0: no periodic summary (the totals are still kept).
  RequestLog(Log& log, std::chrono::milliseconds interval);
  // Stops the summary thread and writes the last partial interval's summary.
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // `detail` says what was asked (collection, sizes); `error` is empty for success,
  // otherwise the exception's type and message.
  void record(std::string_view method, std::string_view detail, std::chrono::nanoseconds latency,
              std::string_view error);

  std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  void summarise(std::chrono::steady_clock::duration elapsed);

  Log& log_;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> errors_{0};

  std::mutex mutex_;  // guards the interval's figures
  LatencyHistogram interval_latency_;
  std::uint64_t interval_errors_ = 0;
  std::chrono::steady_clock::time_point interval_start_ = std::chrono::steady_clock::now();

  std::condition_variable_any wake_;
  std::jthread summary_thread_;  // last member: it starts after, and stops before, the rest
};

}  // namespace quiver::api
