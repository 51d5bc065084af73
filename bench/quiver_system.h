// quiver itself, under one index spec ("hnsw32,efc200,f32"), through its public API:
// Index::build, search, search_batch and SearchStats. `sample_queries` (may be empty)
// train the specs that learn from queries (leanvec-ood, attn); it must outlive build().
// `buffer_factor` > 1 keeps buffer_factor x ef candidates for re-ranking
// (SearchParams::buffer), so a compressed walk can stay narrow while re-ranking more.
// `added_fraction` > 0 builds on the other rows first and adds that last fraction of
// the base afterwards, 1,000 rows per add(); at 1 the index starts empty (an attention
// graph with its sample queries, as a Collection does). `relearn` then calls compact(),
// which learns an attention graph again from its sample queries.
#pragma once

#include <cstddef>
#include <memory>

#include "bench/system.h"
#include "quiver/index_spec.h"

namespace quiver::bench {

std::unique_ptr<System> make_quiver_system(const IndexSpec& spec, MatrixView sample_queries,
                                          std::size_t buffer_factor = 1, double added_fraction = 0.0,
                                          bool relearn = false);

}  // namespace quiver::bench
