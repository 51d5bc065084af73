#include "api/request_log.h"

#include <cstdio>
#include <string>

namespace quiver::api {

namespace {

std::string format_ms(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f ms", ms);
  return text;
}

}  // namespace

RequestLog::RequestLog(Log& log, std::chrono::milliseconds interval) : log_(log) {
  if (interval.count() <= 0) return;
  summary_thread_ = std::jthread([this, interval](std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      // Wakes early only for a stop request; the mutex is released while waiting.
      wake_.wait_for(lock, stop, interval, [] { return false; });
      if (stop.stop_requested()) break;
      summarise(std::chrono::steady_clock::now() - interval_start_);
    }
  });
}

RequestLog::~RequestLog() {
  if (summary_thread_.joinable()) {
    summary_thread_.request_stop();
    summary_thread_.join();
  }
  const std::lock_guard lock(mutex_);
  summarise(std::chrono::steady_clock::now() - interval_start_);
}

void RequestLog::record(std::string_view method, std::string_view detail, std::chrono::nanoseconds latency,
                        std::string_view error) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  if (!error.empty()) errors_.fetch_add(1, std::memory_order_relaxed);
  {
    const std::lock_guard lock(mutex_);
    interval_latency_.record(latency);
    if (!error.empty()) ++interval_errors_;
  }
  if (log_.enabled(LogLevel::Debug)) {
    std::string line = std::string(method);
    if (!detail.empty()) line.append(" ").append(detail);
    line.append(" ").append(format_ms(static_cast<double>(latency.count()) / 1e6));
    line.append(error.empty() ? std::string(" ok") : " failed: " + std::string(error));
    log_.debug(line);
  }
}

// Called with mutex_ held.
void RequestLog::summarise(std::chrono::steady_clock::duration elapsed) {
  const std::uint64_t count = interval_latency_.count();
  // An idle server stays quiet: an interval without requests has nothing to say.
  if (count > 0) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f", seconds > 0 ? static_cast<double>(count) / seconds : 0.0);
    char span[32];
    std::snprintf(span, sizeof span, "%.1f", seconds);
    log_.info("requests in the last " + std::string(span) + " s: " + std::to_string(count) + " (" + rate +
              "/s), " + std::to_string(interval_errors_) + " errors, p50 " +
              format_ms(interval_latency_.quantile_ms(0.5)) + ", p99 " +
              format_ms(interval_latency_.quantile_ms(0.99)) + ", max " + format_ms(interval_latency_.max_ms()));
  }
  interval_latency_.clear();
  interval_errors_ = 0;
  interval_start_ = std::chrono::steady_clock::now();
}

}  // namespace quiver::api
