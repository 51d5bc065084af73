// One search result.
#pragma once

#include <cstdint>

namespace quiver {

struct Hit {
  std::uint64_t id = 0;
  // L2: squared Euclidean distance (smaller is better). InnerProduct: the inner
  // product; Cosine: the cosine similarity (larger is better). Results come best first.
  float score = 0.0f;
};

}  // namespace quiver
