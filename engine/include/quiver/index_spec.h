// What an index is built as, in the spirit of FAISS's index_factory: a short spec
// string ("leanvec160,lvq8,rerank=f16,hnsw32") plus the metric and dimension. The spec
// is stored in the index manifest and printed by `quiver info`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "quiver/export.h"
#include "quiver/metric.h"

namespace quiver {

enum class GraphKind {
  Hnsw,       // hierarchical navigable small world, built from the data alone
  Attention,  // RoarGraph-style graph learned from sample queries, for queries unlike the data
};

// How vectors are stored for graph search (the primary encoding).
enum class Encoding {
  F32,     // float32, exact
  F16,     // IEEE half precision: half the bytes, ~1e-3 relative error per component
  Lvq8,    // LVQ, 8 bits per component plus a per-vector step and bias
  Lvq4,    // LVQ, 4 bits per component
  Lvq4x8,  // LVQ-4 for the walk, plus an 8-bit residual level used to re-rank
  Qavq,    // query-aware product quantization (A²ATS): 8 or 4 bits per sub-space, scored
           // through a per-query lookup table; inner product and cosine only
};

// What the candidate buffer is re-scored with after the walk (the secondary vectors,
// always at full dimension).
enum class Rerank { None, F32, F16, Lvq8 };

// Dimensionality reduction of the primary vectors.
enum class Reduction {
  None,
  LeanVecId,   // PCA of the data
  LeanVecOod,  // separate query and data maps learned from data and sample queries
};

QUIVER_API std::string to_string(Encoding encoding);
QUIVER_API std::string to_string(Rerank rerank);

struct QUIVER_API IndexSpec {
  Metric metric = Metric::L2;
  std::size_t dim = 0;
  GraphKind graph = GraphKind::Hnsw;
  Encoding primary = Encoding::F32;
  Reduction reduction = Reduction::None;
  std::size_t reduced_dim = 0;        // LeanVec output dimension (0 without reduction)
  Rerank rerank = Rerank::None;
  std::size_t pq_sub_spaces = 0;      // Qavq sub-spaces; 0 for other encodings
  unsigned pq_bits = 8;               // Qavq bits per sub-code: 8 (256 centroids) or 4 (16)
  // Qavq codebooks that overlap (each spans its sub-space and the next, codes chained): lower
  // error at the same code size, for minutes of training and a slower encode.
  bool pq_overlapping = false;
  std::size_t M = 32;                 // graph out-degree on upper layers; 2M on the base layer
  std::size_t ef_construction = 200;  // build-time search window
  // Attention graphs: exact neighbours taken per sample query (RoarGraph's N_q). More
  // suits collections whose queries' neighbourhoods are wide; data-dependent.
  std::size_t query_neighbours = default_query_neighbours;
  // Attention graphs: fewer sample queries than this are topped up to it with draws from a
  // Gaussian fitted to them before the graph learns; 0 learns from the given ones only.
  std::size_t learning_queries = default_learning_queries;

  // Parses comma-separated tokens in any order: "hnsw<M>" | "attn<M>", "efc<N>", "nq<N>"
  // (attention graphs' N_q), "lq<N>" (attention graphs' learning queries), "f32" | "f16" |
  // "lvq8" | "lvq4" | "lvq4x8" | "qavq<sub-spaces>[x4|x8]", "overlapping" (qavq only),
  // "leanvec<d>" | "leanvec-ood<d>", "rerank=f32|f16|lvq8|none". Left-out tokens keep their defaults, except that LeanVec
  // without a rerank token re-ranks with lvq8, and qavq with f32. Throws InvalidArgument
  // naming the bad token.
  static IndexSpec parse(std::string_view spec, Metric metric, std::size_t dim);

  // The canonical spec string, e.g. "hnsw32,efc200,leanvec160,lvq8,rerank=lvq8".
  std::string to_string() const;

  // Throws InvalidArgument if a field is out of range (dim 0 or > max_dim, M < 2, d >= dim, ...).
  void validate() const;

  // Dimension of the vectors the graph is built on.
  std::size_t primary_dim() const { return reduction == Reduction::None ? dim : reduced_dim; }
  bool needs_sample_queries() const { return reduction == Reduction::LeanVecOod || graph == GraphKind::Attention; }

  static constexpr std::size_t default_query_neighbours = 100;
  static constexpr std::size_t max_query_neighbours = 10000;
  static constexpr std::size_t default_learning_queries = 20000;
  static constexpr std::size_t max_learning_queries = 1000000;
  static constexpr std::size_t max_dim = 65536;
  static constexpr std::size_t max_M = 2048;
};

}  // namespace quiver
