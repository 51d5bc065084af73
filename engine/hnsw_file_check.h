// Structural validation of a graph file in hnswlib's saveIndex layout before hnswlib
// loads it. hnswlib trusts every header field and link id it reads, so a truncated or
// crafted file could make it allocate wildly or index out of bounds; this walks the
// whole file with bounds checks first and throws CorruptFile naming the offset.
#pragma once

#include <cstddef>
#include <filesystem>

namespace quiver::engine {

struct HnswFileExpectation {
  std::size_t elements;          // vectors the manifest says the graph holds
  std::size_t bytes_per_vector;  // stored vector size
  std::size_t M;                 // upper-layer degree; base layer holds 2M
  bool one_layer;                // attention graph: keys added later stay on level 0 (multiplier 0)
};

struct HnswFileSummary {
  std::size_t deleted = 0;  // elements carrying hnswlib's delete mark
};

HnswFileSummary check_hnsw_file(const std::filesystem::path& path, const HnswFileExpectation& expected);

}  // namespace quiver::engine
