// What an index is built as, in the spirit of FAISS's index_factory: a short spec
// string ("hnsw32,efc200,f16") plus the metric and dimension. The spec is stored in
// the index manifest and printed by `quiver info`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "quiver/metric.h"

namespace quiver {

enum class GraphKind { Hnsw };

// How vectors are stored for graph search.
enum class Encoding {
  F32,  // float32, exact
  F16,  // IEEE half precision: half the bytes, ~1e-3 relative error per component
};

QUIVER_API std::string to_string(Encoding encoding);

struct QUIVER_API IndexSpec {
  Metric metric = Metric::L2;
  std::size_t dim = 0;
  GraphKind graph = GraphKind::Hnsw;
  Encoding primary = Encoding::F32;
  std::size_t M = 32;                 // graph out-degree on upper layers; 2M on the base layer
  std::size_t ef_construction = 200;  // build-time search window

  // Parses comma-separated tokens: "hnsw<M>", "efc<N>", "f32" | "f16". Tokens left
  // out keep their defaults. Throws InvalidArgument naming the bad token.
  static IndexSpec parse(std::string_view spec, Metric metric, std::size_t dim);

  // The canonical spec string, e.g. "hnsw32,efc200,f32" (metric and dim not included).
  std::string to_string() const;

  // Throws InvalidArgument if a field is out of range (dim 0 or > max_dim, M < 2, ...).
  void validate() const;

  static constexpr std::size_t max_dim = 65536;
  static constexpr std::size_t max_M = 2048;
};

}  // namespace quiver
