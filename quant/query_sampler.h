// Stand-in sample queries: draws from a Gaussian fitted to the sample queries a caller
// has. A learner that needs many queries' exact neighbours (the attention graph) can
// then learn from a few hundred real ones, which a short prompt or a new collection is
// all that is on hand. Eigen stays inside query_sampler.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quiver/matrix.h"

namespace quiver::quant {

// `count` rows drawn from N(mean, covariance) of the rows of `queries`. The covariance
// gets a small ridge, so that fewer queries than dimensions still spread a little into
// every direction. The same inputs and seed give the same rows. Throws InvalidArgument
// for no queries.
Matrix draw_like_queries(MatrixView queries, std::size_t count, std::uint64_t seed, std::size_t threads);

}  // namespace quiver::quant
