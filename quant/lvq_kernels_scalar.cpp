// Portable LVQ kernels: plain loops over lvq_kernels.h's layout helpers, the fallback
// for CPUs (and architectures) without a SIMD variant. Built with the baseline flags.
#include <cstddef>

#include "quant/lvq_kernels.h"

namespace quiver::quant {
namespace {

using Query = LvqCodec::Query;

// Four partial sums: still plain scalar code, but not one long dependency chain.
template <class Term>
float sum_terms(const Term& term, std::size_t dim) {
  float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  std::size_t j = 0;
  for (; j + 4 <= dim; j += 4) {
    for (std::size_t u = 0; u < 4; ++u) s[u] += term(j + u);
  }
  for (; j < dim; ++j) s[0] += term(j);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

template <unsigned kBits>
float code(const std::byte* codes, std::size_t j) {
  return static_cast<float>(lvq_get_code(codes, j, kBits));
}

template <unsigned kBits>
LvqAffine affine(const std::byte* primary, std::size_t dim) {
  return lvq_read_affine(primary, lvq_packed_bytes(dim, kBits));
}

template <unsigned kBits>
float l2(const Query& q, const std::byte* primary, std::size_t dim) {
  const LvqAffine a = affine<kBits>(primary, dim);
  const float* values = q.values();
  return sum_terms(
      [&](std::size_t j) {
        const float d = values[j] - (a.step * code<kBits>(primary, j) + a.bias);
        return d * d;
      },
      dim);
}

template <unsigned kBits>
float inner_product(const Query& q, const std::byte* primary, std::size_t dim) {
  const LvqAffine a = affine<kBits>(primary, dim);
  const float* values = q.values();
  const float dot = sum_terms([&](std::size_t j) { return values[j] * code<kBits>(primary, j); }, dim);
  return a.step * dot + a.bias * q.sum() + q.offset();
}

// (2^B2 - 1) c_j + r_j, exact in float.
template <unsigned kBits, unsigned kResidualBits>
float combined(const std::byte* primary, const std::byte* residual, std::size_t j) {
  return static_cast<float>((1u << kResidualBits) - 1u) * code<kBits>(primary, j) +
         code<kResidualBits>(residual, j);
}

template <unsigned kBits, unsigned kResidualBits>
float l2_two_level(const Query& q, const std::byte* primary, const std::byte* residual, std::size_t dim) {
  const LvqAffine a = lvq_two_level_affine(affine<kBits>(primary, dim), kResidualBits);
  const float* values = q.values();
  return sum_terms(
      [&](std::size_t j) {
        const float d = values[j] - (a.step * combined<kBits, kResidualBits>(primary, residual, j) + a.bias);
        return d * d;
      },
      dim);
}

template <unsigned kBits, unsigned kResidualBits>
float inner_product_two_level(const Query& q, const std::byte* primary, const std::byte* residual,
                              std::size_t dim) {
  const LvqAffine a = lvq_two_level_affine(affine<kBits>(primary, dim), kResidualBits);
  const float* values = q.values();
  const float dot = sum_terms(
      [&](std::size_t j) { return values[j] * combined<kBits, kResidualBits>(primary, residual, j); }, dim);
  return a.step * dot + a.bias * q.sum() + q.offset();
}

// The two-level entry of a codec without a second level.
template <LvqCodec::DistanceFn kFirstLevel>
float first_level_only(const Query& q, const std::byte* primary, const std::byte*, std::size_t dim) {
  return kFirstLevel(q, primary, dim);
}

template <unsigned kBits>
float l2_symmetric(const std::byte* a, const std::byte* b, const float*, std::size_t dim) {
  const LvqAffine fa = affine<kBits>(a, dim);
  const LvqAffine fb = affine<kBits>(b, dim);
  return sum_terms(
      [&](std::size_t j) {
        const float d = (fa.step * code<kBits>(a, j) + fa.bias) - (fb.step * code<kBits>(b, j) + fb.bias);
        return d * d;
      },
      dim);
}

template <unsigned kBits>
float inner_product_symmetric(const std::byte* a, const std::byte* b, const float* mean, std::size_t dim) {
  const LvqAffine fa = affine<kBits>(a, dim);
  const LvqAffine fb = affine<kBits>(b, dim);
  return sum_terms(
      [&](std::size_t j) {
        return (fa.step * code<kBits>(a, j) + (fa.bias + mean[j])) *
               (fb.step * code<kBits>(b, j) + (fb.bias + mean[j]));
      },
      dim);
}

template <unsigned kBits>
constexpr void fill_level(LvqKernels& t) {
  const std::size_t slot = lvq_slot(kBits);
  t.one_level[slot][0] = &l2<kBits>;
  t.one_level[slot][1] = &inner_product<kBits>;
  t.two_level[slot][0][0] = &first_level_only<&l2<kBits>>;
  t.two_level[slot][0][1] = &first_level_only<&inner_product<kBits>>;
  t.two_level[slot][1][0] = &l2_two_level<kBits, 4>;
  t.two_level[slot][1][1] = &inner_product_two_level<kBits, 4>;
  t.two_level[slot][2][0] = &l2_two_level<kBits, 8>;
  t.two_level[slot][2][1] = &inner_product_two_level<kBits, 8>;
  t.symmetric[slot][0] = &l2_symmetric<kBits>;
  t.symmetric[slot][1] = &inner_product_symmetric<kBits>;
}

constexpr LvqKernels make_scalar() {
  LvqKernels t{};
  t.isa = "scalar";
  fill_level<4>(t);
  fill_level<8>(t);
  return t;
}

}  // namespace

namespace detail {
extern const LvqKernels lvq_scalar_kernels;
constinit const LvqKernels lvq_scalar_kernels = make_scalar();
}  // namespace detail

}  // namespace quiver::quant
