// Retrieval-based sparse attention (RetrievalAttention, A²ATS): for one decoding step's
// query heads, an Index over the cached keys finds each head's top-k keys by inner
// product, and the head's output is the softmax-weighted sum of those keys' value vectors
// only. When the top-k keys hold nearly all of the softmax mass this matches full
// attention at the cost of k value reads instead of n.
#pragma once

#include <cstddef>
#include <vector>

#include "quiver/export.h"
#include "quiver/hit.h"
#include "quiver/index.h"
#include "quiver/matrix.h"
#include "quiver/search_params.h"

namespace quiver {

struct AttentionParams {
  std::size_t k = 64;       // keys retrieved and attended to per query
  // Softmax temperature: weights ∝ exp(scale · <q, key>). 0 means 1 / sqrt(dim), the
  // scaled dot-product attention of transformers.
  float scale = 0.0f;
  std::size_t ef = 0;       // graph search window (SearchParams::ef, may be below k); 0 means max(64, 2k)
  std::size_t threads = 0;  // queries searched in parallel; 0 = all hardware threads
};

struct AttentionResult {
  // Per query, the retrieved keys best first: Hit::id is the key id (the row of `values`),
  // Hit::score its inner product with the query (unscaled).
  std::vector<std::vector<Hit>> hits;
  // queries.rows x values.cols: softmax(scale · scores) applied to the retrieved values.
  Matrix output;
};

// `keys`: an inner-product index whose ids index the rows of `values` (one value vector
// per key id). Throws InvalidArgument if the index is not inner product, the queries'
// dimension differs from the index's, a query value is NaN or infinite, k is 0, scale is
// negative or not finite, `values` is empty, or a retrieved key id has no row in `values`.
// An empty index gives empty hit lists and zero outputs.
QUIVER_API AttentionResult sparse_attention(const Index& keys, MatrixView queries, MatrixView values,
                                            const AttentionParams& params = {});

}  // namespace quiver
