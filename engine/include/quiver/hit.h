// One search result.
#pragma once

#include <cstdint>

namespace quiver {

// Hit::relevance when no relevance filter is attached to the index that produced the
// hit. Negative, so it can never pass for a probability (and survives JSON/Thrift,
// unlike NaN).
inline constexpr float no_relevance = -1.0f;

struct Hit {
  std::uint64_t id = 0;
  // L2: squared Euclidean distance (smaller is better). InnerProduct: the inner
  // product; Cosine: the cosine similarity (larger is better). Results come best first.
  float score = 0.0f;
  // Calibrated probability in [0, 1] that the hit is relevant, from the index's
  // relevance filter (Index::set_relevance_filter); no_relevance (-1) when none is attached.
  float relevance = no_relevance;
};

}  // namespace quiver
