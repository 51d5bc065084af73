// The distance from one prepared query to stored vectors, as a small value type the
// search loop is instantiated with: one instantiation per (encoding, metric), so the
// hot loop has no branch on either. Smaller is closer (inner product is negated).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/vector_space.h"

namespace quiver::engine {

template <bool Negate>
struct F32Distance {
  const float* query;
  std::size_t dim;
  quant::F32Kernel kernel;
  float operator()(const char* stored) const {
    float value = kernel(query, reinterpret_cast<const float*>(stored), dim);
    return Negate ? -value : value;
  }
};

template <bool Negate>
struct F16Distance {
  const float* query;
  std::size_t dim;
  quant::F16Kernel kernel;
  float operator()(const char* stored) const {
    float value = kernel(query, reinterpret_cast<const std::uint16_t*>(stored), dim);
    return Negate ? -value : value;
  }
};

// Prepares `query` for `space` (normalised for cosine) and calls `body(distance)`.
template <typename Body>
void with_query_distance(const VectorSpace& space, std::span<const float> query, Body&& body) {
  std::vector<float> normalised;
  if (space.metric() == Metric::Cosine) {
    normalised.assign(query.begin(), query.end());
    quant::normalize(normalised);
    query = normalised;
  }
  const auto& k = space.kernels();
  bool l2 = space.metric() == Metric::L2;
  switch (space.encoding()) {
    case Encoding::F32:
      if (l2) {
        body(F32Distance<false>{query.data(), query.size(), k.l2_sq});
      } else {
        body(F32Distance<true>{query.data(), query.size(), k.dot});
      }
      break;
    case Encoding::F16:
      if (l2) {
        body(F16Distance<false>{query.data(), query.size(), k.l2_sq_f16});
      } else {
        body(F16Distance<true>{query.data(), query.size(), k.dot_f16});
      }
      break;
  }
}

}  // namespace quiver::engine
