// The attention-aware graph for out-of-distribution queries (RoarGraph, as used by
// RetrievalAttention): neighbour lists learned from where sample queries' true
// neighbours lie, so that a query unlike the data still walks to its neighbours.
// Pure construction on float vectors; the index stores the lists as a one-layer
// hnswlib graph and searches it with the same loop as HNSW.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "quiver/build_options.h"
#include "quiver/index_spec.h"
#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver::engine {

struct AttentionGraphParams {
  std::size_t degree = 32;             // M: lists hold at most 2M after connectivity enhancement
  std::size_t query_neighbours = 100;  // N_q: exact neighbours taken per sample query
  std::size_t pivots = 3;              // a query's first hits that get lists from it (see the build)
  std::size_t beam = 200;              // L: search width of the connectivity pass
  std::size_t in_link_depth = 100;     // a sample query's first hits linked from its better ones; 0: none
  // Fewer sample queries than this are topped up to it with draws from a Gaussian fitted to
  // them (quant/query_sampler.h); 0: learn from the given ones only.
  std::size_t learning_queries = IndexSpec::default_learning_queries;
  std::uint64_t seed = 0;  // of those draws
  std::size_t threads = 0;
  ProgressCallback progress;           // done/total over the build's phases
};

struct AttentionGraph {
  std::vector<std::vector<std::uint32_t>> neighbours;  // by row of the data
  std::uint32_t entry = 0;                             // the data row best for the mean sample query
};

// The fewest sample queries accepted: fewer cannot cover a collection's neighbourhoods.
inline constexpr std::size_t min_attention_sample_queries = 100;

// Throws InvalidArgument when `count` is below min_attention_sample_queries.
void check_sample_query_count(std::size_t count);

// `data` and `queries` as the metric sees them (normalised for cosine). Throws
// InvalidArgument for too few sample queries or mismatched dimensions, Cancelled if
// the progress callback asks.
AttentionGraph build_attention_graph(MatrixView data, MatrixView queries, Metric metric,
                                     const AttentionGraphParams& params);

}  // namespace quiver::engine
