#include "engine/vector_space.h"

namespace quiver::engine {

namespace {

using Params = VectorSpace::Params;

// hnswlib's distance signature. Float encodings call the kernels directly (the build's
// hot loop); LVQ goes through the encoder. Inner products are negated: smaller is closer.
float l2_f32(const void* a, const void* b, const void* p) {
  auto& params = *static_cast<const Params*>(p);
  return params.kernels->l2_sq(static_cast<const float*>(a), static_cast<const float*>(b), params.dim);
}
float neg_dot_f32(const void* a, const void* b, const void* p) {
  auto& params = *static_cast<const Params*>(p);
  return -params.kernels->dot(static_cast<const float*>(a), static_cast<const float*>(b), params.dim);
}
float l2_f16(const void* a, const void* b, const void* p) {
  auto& params = *static_cast<const Params*>(p);
  return params.kernels->l2_sq_f16f16(static_cast<const std::uint16_t*>(a), static_cast<const std::uint16_t*>(b),
                                      params.dim);
}
float neg_dot_f16(const void* a, const void* b, const void* p) {
  auto& params = *static_cast<const Params*>(p);
  return -params.kernels->dot_f16f16(static_cast<const std::uint16_t*>(a), static_cast<const std::uint16_t*>(b),
                                     params.dim);
}
float encoded(const void* a, const void* b, const void* p) {
  auto& params = *static_cast<const Params*>(p);
  return params.encoder->symmetric_distance(static_cast<const std::byte*>(a), static_cast<const std::byte*>(b));
}

}  // namespace

VectorSpace::VectorSpace(const VectorEncoder& encoder)
    : params_{encoder.spec().primary_dim(), &quant::kernels(), &encoder} {
  bool l2 = encoder.spec().metric == Metric::L2;
  switch (encoder.spec().primary) {
    case Encoding::F32: distance_ = l2 ? l2_f32 : neg_dot_f32; break;
    case Encoding::F16: distance_ = l2 ? l2_f16 : neg_dot_f16; break;
    default: distance_ = encoded; break;
  }
}

}  // namespace quiver::engine
