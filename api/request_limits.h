// Bounds on what one request may ask for. They keep a single request from taking the
// server's memory or a worker for minutes; the Thrift frame limit bounds the bytes.
#pragma once

#include <cstddef>

namespace quiver::api {

struct RequestLimits {
  std::size_t max_batch = 1000;  // records per upsert, ids per remove, requests per search_batch
  static constexpr std::size_t max_k = 10000;
  static constexpr std::size_t max_ef = 100000;
};

}  // namespace quiver::api
