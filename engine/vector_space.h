// How stored vectors look to the graph: element type (float32 or float16), byte size,
// and the symmetric distance hnswlib uses while building. Search uses the asymmetric
// kernels in graph_search.h instead (float query against stored codes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/hnswlib_include.h"
#include "quant/distance.h"
#include "quiver/index_spec.h"

namespace quiver::engine {

class VectorSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit VectorSpace(const IndexSpec& spec);

  size_t get_data_size() override { return bytes_per_vector_; }
  hnswlib::DISTFUNC<float> get_dist_func() override { return distance_; }
  void* get_dist_func_param() override { return &params_; }

  std::size_t bytes_per_vector() const { return bytes_per_vector_; }
  Metric metric() const { return metric_; }
  Encoding encoding() const { return encoding_; }
  std::size_t dim() const { return params_.dim; }
  const quant::DistanceKernels& kernels() const { return *params_.kernels; }

  // Copies a caller's vector into stored form: normalised for cosine, converted for f16.
  // `out` holds bytes_per_vector() bytes.
  void encode(std::span<const float> vector, std::byte* out) const;
  // The stored vector back as floats (for compaction and tests).
  void decode(const std::byte* stored, std::span<float> out) const;

  struct Params {
    std::size_t dim;
    const quant::DistanceKernels* kernels;
  };

 private:
  Metric metric_;
  Encoding encoding_;
  std::size_t bytes_per_vector_;
  Params params_;
  hnswlib::DISTFUNC<float> distance_;
};

}  // namespace quiver::engine
