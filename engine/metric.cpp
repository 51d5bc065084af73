#include "quiver/metric.h"

#include <string>

#include "quiver/error.h"

namespace quiver {

std::string to_string(Metric metric) {
  switch (metric) {
    case Metric::L2: return "l2";
    case Metric::InnerProduct: return "ip";
    case Metric::Cosine: return "cosine";
  }
  return "unknown";
}

Metric parse_metric(std::string_view text) {
  if (text == "l2" || text == "euclidean") return Metric::L2;
  if (text == "ip" || text == "inner_product" || text == "dot") return Metric::InnerProduct;
  if (text == "cosine" || text == "angular") return Metric::Cosine;
  throw InvalidArgument("unknown metric '" + std::string(text) +
                        "': expected l2 (euclidean), ip (inner_product, dot) or cosine (angular)");
}

}  // namespace quiver
