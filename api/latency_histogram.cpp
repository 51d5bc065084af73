#include "api/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace quiver::api {

void LatencyHistogram::record(std::chrono::nanoseconds latency) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count() / 1000));
  // log2(us + 1) keeps 0 us in bucket 0 and makes the buckets contiguous.
  const auto index = static_cast<std::size_t>(std::log2(static_cast<double>(us) + 1.0) * buckets_per_doubling);
  ++buckets_[std::min(index, bucket_count - 1)];
  ++count_;
  max_us_ = std::max(max_us_, us);
}

void LatencyHistogram::clear() {
  buckets_.fill(0);
  count_ = 0;
  max_us_ = 0;
}

double LatencyHistogram::quantile_ms(double q) const {
  if (count_ == 0) return 0.0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) {
      // The bucket's geometric middle, but never above the largest value seen (a single
      // request's p99 is its own latency, not its bucket's edge).
      const double us = std::exp2((static_cast<double>(i) + 0.5) / buckets_per_doubling) - 1.0;
      return std::min(us, static_cast<double>(max_us_)) / 1000.0;
    }
  }
  return max_ms();
}

}  // namespace quiver::api
