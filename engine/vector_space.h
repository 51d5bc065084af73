// The primary codes as hnswlib sees them while it builds the graph: their byte size
// and a symmetric code-to-code distance. Search does not go through here; it scores
// prepared queries against codes with the functors of vector_encoder.h.
#pragma once

#include <cstddef>

#include "engine/hnswlib_include.h"
#include "engine/vector_encoder.h"

namespace quiver::engine {

class VectorSpace final : public hnswlib::SpaceInterface<float> {
 public:
  // `encoder` must outlive the space.
  explicit VectorSpace(const VectorEncoder& encoder);

  size_t get_data_size() override { return params_.encoder->primary_bytes(); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return distance_; }
  void* get_dist_func_param() override { return &params_; }

  struct Params {
    std::size_t dim;
    const quant::DistanceKernels* kernels;
    const VectorEncoder* encoder;
  };

 private:
  Params params_;
  hnswlib::DISTFUNC<float> distance_;
};

}  // namespace quiver::engine
