// Request latencies in fixed log-spaced buckets (8 per doubling, so a quantile is off by
// at most ~9 %), for the server's periodic summary: constant memory and O(1) record,
// however many requests an interval sees.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace quiver::api {

class LatencyHistogram {
 public:
  void record(std::chrono::nanoseconds latency);
  void clear();

  std::uint64_t count() const { return count_; }
  // The q-quantile (q in [0, 1]) in milliseconds, or 0 when nothing was recorded.
  double quantile_ms(double q) const;
  double max_ms() const { return static_cast<double>(max_us_) / 1000.0; }

 private:
  static constexpr std::size_t buckets_per_doubling = 8;
  static constexpr std::size_t bucket_count = buckets_per_doubling * 40;  // up to 2^40 us, ~12 days

  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_us_ = 0;
};

}  // namespace quiver::api
