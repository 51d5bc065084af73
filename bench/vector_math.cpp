#include "bench/vector_math.h"

#include <cmath>
#include <cstddef>

namespace quiver::bench {

double exact_distance(Metric metric, std::span<const float> query, std::span<const float> point) {
  double dot = 0.0;
  double query_norm2 = 0.0;
  double point_norm2 = 0.0;
  double l2 = 0.0;
  for (std::size_t j = 0; j < query.size(); ++j) {
    const double q = query[j];
    const double x = point[j];
    dot += q * x;
    query_norm2 += q * q;
    point_norm2 += x * x;
    l2 += (q - x) * (q - x);
  }
  switch (metric) {
    case Metric::L2:
      return std::sqrt(l2);
    case Metric::InnerProduct:
      return -dot;
    case Metric::Cosine: {
      const double norms = std::sqrt(query_norm2 * point_norm2);
      return norms > 0.0 ? 1.0 - dot / norms : 1.0;
    }
  }
  return l2;
}

Matrix normalised_rows(MatrixView vectors) {
  Matrix out(vectors.rows, vectors.cols);
  for (std::size_t i = 0; i < vectors.rows; ++i) {
    const auto in = vectors.row(i);
    double norm2 = 0.0;
    for (const float v : in) norm2 += static_cast<double>(v) * v;
    const double scale = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
    auto row = out.row(i);
    for (std::size_t j = 0; j < in.size(); ++j) row[j] = static_cast<float>(in[j] * scale);
  }
  return out;
}

}  // namespace quiver::bench
