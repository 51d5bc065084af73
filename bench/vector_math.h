// Reference arithmetic the benchmark trusts more than any system under test: the
// exact distance that recall is judged by, and the normalisation that turns a cosine
// data set into an inner-product one for peers without a cosine metric.
#pragma once

#include <span>

#include "quiver/matrix.h"
#include "quiver/metric.h"

namespace quiver::bench {

// A distance where smaller is closer, in double precision, in the units ann-benchmarks
// reports: Euclidean (not squared) for L2, 1 - cosine for cosine, -<q, x> for inner
// product. Every recall decision goes through this one function, so a true neighbour
// and a returned hit with the same id always get bit-identical distances.
double exact_distance(Metric metric, std::span<const float> query, std::span<const float> point);

// A copy with every row scaled to unit L2 norm; all-zero rows stay zero.
Matrix normalised_rows(MatrixView vectors);

}  // namespace quiver::bench
