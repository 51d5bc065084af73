// "QAVQ flat" search: every PQ code is scored with the query's lookup table (a byte
// gather per sub-space for 8-bit codes, the fast-scan shuffle for 4-bit ones), the best
// `candidates` are re-scored exactly with the float vectors, and the best k returned. The
// standalone retrieval path for attention keys (A²ATS keeps ~3 % of keys for re-scoring).
#pragma once

#include <cstddef>
#include <vector>

#include "quant/pq_codes.h"
#include "quant/query_aware_pq.h"
#include "quiver/hit.h"
#include "quiver/matrix.h"

namespace quiver::quant {

struct PqFlatSearchParams {
  std::size_t k = 10;
  std::size_t candidates = 100;  // R: kept by the table scan and re-scored exactly; >= k
  std::size_t threads = 0;       // queries run in parallel; 0 = one thread per hardware thread
};

// One list per query row, best first, of at most k hits: Hit::id is the row of `vectors`
// (and of `codes`), Hit::score the exact inner product. `vectors` are the float vectors
// the codes were encoded from. Throws InvalidArgument on mismatched dimensions or row
// counts, codes of another quantizer, k == 0, candidates < k, or a non-finite query value.
std::vector<std::vector<Hit>> pq_flat_search(const QueryAwarePq& pq, const PqCodes& codes, MatrixView vectors,
                                             MatrixView queries, const PqFlatSearchParams& params);

}  // namespace quiver::quant
