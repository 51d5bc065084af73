// The similarity measures quiver indexes. Cosine is served as inner product on
// vectors normalised at insert and query time.
#pragma once

#include <string>
#include <string_view>

#include "quiver/export.h"

namespace quiver {

enum class Metric { L2, InnerProduct, Cosine };

// "l2", "ip", "cosine"
QUIVER_API std::string to_string(Metric metric);

// Accepts "l2"/"euclidean", "ip"/"inner_product"/"dot", "cosine"/"angular";
// throws InvalidArgument naming the accepted spellings otherwise.
QUIVER_API Metric parse_metric(std::string_view text);

// Whether a larger score is better for this metric (see Hit::score).
constexpr bool higher_is_better(Metric metric) { return metric != Metric::L2; }

}  // namespace quiver
