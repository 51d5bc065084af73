#include "engine/vector_space.h"

#include <cstring>

#include "quant/float16.h"

namespace quiver::engine {

namespace {

using Params = VectorSpace::Params;

// hnswlib's distance signature; inner product is negated so that smaller is closer.
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

}  // namespace

VectorSpace::VectorSpace(const IndexSpec& spec)
    : metric_(spec.metric), encoding_(spec.primary), params_{spec.dim, &quant::kernels()} {
  bool l2 = metric_ == Metric::L2;
  switch (encoding_) {
    case Encoding::F32:
      bytes_per_vector_ = spec.dim * sizeof(float);
      distance_ = l2 ? l2_f32 : neg_dot_f32;
      break;
    case Encoding::F16:
      bytes_per_vector_ = spec.dim * sizeof(std::uint16_t);
      distance_ = l2 ? l2_f16 : neg_dot_f16;
      break;
  }
}

void VectorSpace::encode(std::span<const float> vector, std::byte* out) const {
  std::vector<float> normalised;
  if (metric_ == Metric::Cosine) {
    normalised.assign(vector.begin(), vector.end());
    quant::normalize(normalised);
    vector = normalised;
  }
  switch (encoding_) {
    case Encoding::F32:
      std::memcpy(out, vector.data(), bytes_per_vector_);
      break;
    case Encoding::F16: {
      std::vector<std::uint16_t> halves(vector.size());
      quant::floats_to_halves(vector, halves);
      std::memcpy(out, halves.data(), bytes_per_vector_);
      break;
    }
  }
}

void VectorSpace::decode(const std::byte* stored, std::span<float> out) const {
  switch (encoding_) {
    case Encoding::F32:
      std::memcpy(out.data(), stored, bytes_per_vector_);
      break;
    case Encoding::F16: {
      std::vector<std::uint16_t> halves(out.size());
      std::memcpy(halves.data(), stored, bytes_per_vector_);
      quant::halves_to_floats(halves, out);
      break;
    }
  }
}

}  // namespace quiver::engine
