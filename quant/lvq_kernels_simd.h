// The LVQ kernels shared by every SIMD variant. Included only by the
// quant/lvq_kernels_<isa>.cpp files, each compiled with its own -m flags.
//
// As in distance_kernels.h, everything here has internal linkage and calls no inline
// function of another header except xsimd's (whose symbols name their architecture) and
// the Query accessors (plain loads, always inlined when optimising): the linker must
// never keep a copy built for one ISA for callers on another.
//
// An Isa provides, with L = batch::size (8 or 16):
//   using batch = xsimd::batch<float, Arch>;
//   static batch load(const float*)                         L floats
//   static batch widen(const std::byte*)                    L bytes as floats
//   static batch widen_nibbles(const std::byte*, bool high) the low or high nibbles of L bytes
//   static batch keep(batch, std::size_t n)                 lanes n.. zeroed, 0 < n < L
//   static float sum(batch)                                 horizontal add
//   static float half(std::uint16_t)                        float16 bits to float
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/lvq_kernels.h"

namespace quiver::quant::lvq_simd {
namespace {

using Query = LvqCodec::Query;

// The codes of one level, read in chunks of L dimensions: chunk k of block b covers
// dimensions [32b + kL, 32b + kL + L). With L dividing 16, a chunk of 4-bit codes is one
// nibble of L consecutive bytes (lvq_codec.h's layout).
template <class Isa>
struct Codes8 {
  static constexpr float kMax = 255.0f;
  static constexpr std::size_t packed_bytes(std::size_t dim) { return dim; }
  static typename Isa::batch chunk(const std::byte* codes, std::size_t block, std::size_t k) {
    return Isa::widen(codes + block * kLvqBlockDims + k * Isa::batch::size);
  }
};

template <class Isa>
struct Codes4 {
  static constexpr float kMax = 15.0f;
  static constexpr std::size_t packed_bytes(std::size_t dim) {
    return (dim + kLvqBlockDims - 1) / kLvqBlockDims * kLvqBlockBytes;
  }
  static typename Isa::batch chunk(const std::byte* codes, std::size_t block, std::size_t k) {
    const std::size_t first = k * Isa::batch::size;  // within the block
    return Isa::widen_nibbles(codes + block * kLvqBlockBytes + first % kLvqBlockBytes,
                              first >= kLvqBlockBytes);
  }
};

template <class Isa, class Level>
LvqAffine read_affine(const std::byte* primary, std::size_t dim) {
  std::uint16_t h[2];
  std::memcpy(h, primary + Level::packed_bytes(dim), sizeof h);  // x86: little-endian
  return {Isa::half(h[0]), Isa::half(h[1])};
}

// Same float operations as lvq_two_level_affine().
template <class Residual>
LvqAffine two_level_affine(LvqAffine first) {
  return {first.step / Residual::kMax, first.bias - 0.5f * first.step};
}

template <class B>
struct Product {
  B x, y;
};

// sum_j x_j * y_j over dimensions [0, dim), with (x, y) = chunk(block, k) for each chunk.
// Chunks past `dim` are never formed, so codes are read no further than their padded
// size; x is zeroed past `dim` in the last chunk. Two blocks per iteration give four
// (AVX-512) or eight (AVX2) independent FMAs over four accumulators, which hides the
// FMA latency. The unrolled loops make every chunk index a constant, so 4-bit offsets
// and nibble choices fold away and the two nibbles of one load share it.
template <class Isa, class Chunk>
float sum_products(const Chunk& chunk, std::size_t dim) {
  using batch = typename Isa::batch;
  constexpr std::size_t kLanes = batch::size;
  constexpr std::size_t kChunks = kLvqBlockDims / kLanes;
  batch acc[4] = {batch(0.0f), batch(0.0f), batch(0.0f), batch(0.0f)};
  const std::size_t full = dim / kLvqBlockDims;
  std::size_t block = 0;
  for (; block + 2 <= full; block += 2) {
#pragma GCC unroll 8
    for (std::size_t k = 0; k < 2 * kChunks; ++k) {
      const Product<batch> p = chunk(block + k / kChunks, k % kChunks);
      acc[k % 4] = xsimd::fma(p.x, p.y, acc[k % 4]);
    }
  }
  if (block < full) {
#pragma GCC unroll 4
    for (std::size_t k = 0; k < kChunks; ++k) {
      const Product<batch> p = chunk(block, k);
      acc[k] = xsimd::fma(p.x, p.y, acc[k]);
    }
    ++block;
  }
  const std::size_t start = block * kLvqBlockDims;
#pragma GCC unroll 4
  for (std::size_t k = 0; k < kChunks; ++k) {
    if (start + k * kLanes >= dim) break;
    const std::size_t left = dim - (start + k * kLanes);
    Product<batch> p = chunk(block, k);
    if (left < kLanes) p.x = Isa::keep(p.x, left);
    acc[k] = xsimd::fma(p.x, p.y, acc[k]);
  }
  return Isa::sum((acc[0] + acc[1]) + (acc[2] + acc[3]));
}

// Position of chunk k of block b in a float array.
template <class Isa>
std::size_t offset(std::size_t block, std::size_t k) {
  return block * kLvqBlockDims + k * Isa::batch::size;
}

// sum_j (q~_j - (s c_j + b))^2
template <class Isa, class Level>
float l2(const Query& q, const std::byte* primary, std::size_t dim) {
  using batch = typename Isa::batch;
  const LvqAffine a = read_affine<Isa, Level>(primary, dim);
  const batch step(a.step), bias(a.bias);
  const float* values = q.values();
  return sum_products<Isa>(
      [&](std::size_t block, std::size_t k) {
        const batch x = xsimd::fma(Level::chunk(primary, block, k), step, bias);
        const batch d = Isa::load(values + offset<Isa>(block, k)) - x;
        return Product<batch>{d, d};
      },
      dim);
}

// <q, mu> + s sum_j q_j c_j + b sum_j q_j
template <class Isa, class Level>
float inner_product(const Query& q, const std::byte* primary, std::size_t dim) {
  using batch = typename Isa::batch;
  const LvqAffine a = read_affine<Isa, Level>(primary, dim);
  const float* values = q.values();
  const float dot = sum_products<Isa>(
      [&](std::size_t block, std::size_t k) {
        return Product<batch>{Isa::load(values + offset<Isa>(block, k)), Level::chunk(primary, block, k)};
      },
      dim);
  return a.step * dot + a.bias * q.sum() + q.offset();
}

// (2^B2 - 1) c_j + r_j as floats (exact: below 2^16).
template <class Isa, class Level, class Residual>
typename Isa::batch combined(const std::byte* primary, const std::byte* residual, std::size_t block,
                             std::size_t k) {
  using batch = typename Isa::batch;
  return xsimd::fma(Level::chunk(primary, block, k), batch(Residual::kMax),
                    Residual::chunk(residual, block, k));
}

template <class Isa, class Level, class Residual>
float l2_two_level(const Query& q, const std::byte* primary, const std::byte* residual, std::size_t dim) {
  using batch = typename Isa::batch;
  const LvqAffine a = two_level_affine<Residual>(read_affine<Isa, Level>(primary, dim));
  const batch step(a.step), bias(a.bias);
  const float* values = q.values();
  return sum_products<Isa>(
      [&](std::size_t block, std::size_t k) {
        const batch x = xsimd::fma(combined<Isa, Level, Residual>(primary, residual, block, k), step, bias);
        const batch d = Isa::load(values + offset<Isa>(block, k)) - x;
        return Product<batch>{d, d};
      },
      dim);
}

template <class Isa, class Level, class Residual>
float inner_product_two_level(const Query& q, const std::byte* primary, const std::byte* residual,
                              std::size_t dim) {
  using batch = typename Isa::batch;
  const LvqAffine a = two_level_affine<Residual>(read_affine<Isa, Level>(primary, dim));
  const float* values = q.values();
  const float dot = sum_products<Isa>(
      [&](std::size_t block, std::size_t k) {
        return Product<batch>{Isa::load(values + offset<Isa>(block, k)),
                              combined<Isa, Level, Residual>(primary, residual, block, k)};
      },
      dim);
  return a.step * dot + a.bias * q.sum() + q.offset();
}

// The two-level entry of a codec without a second level.
template <LvqCodec::DistanceFn kFirstLevel>
float first_level_only(const Query& q, const std::byte* primary, const std::byte*, std::size_t dim) {
  return kFirstLevel(q, primary, dim);
}

template <class Isa, class Level>
float l2_symmetric(const std::byte* a, const std::byte* b, const float*, std::size_t dim) {
  using batch = typename Isa::batch;
  const LvqAffine fa = read_affine<Isa, Level>(a, dim);
  const LvqAffine fb = read_affine<Isa, Level>(b, dim);
  const batch step_a(fa.step), bias_a(fa.bias), step_b(fb.step), bias_b(fb.bias);
  return sum_products<Isa>(
      [&](std::size_t block, std::size_t k) {
        const batch d = xsimd::fma(Level::chunk(a, block, k), step_a, bias_a) -
                        xsimd::fma(Level::chunk(b, block, k), step_b, bias_b);
        return Product<batch>{d, d};
      },
      dim);
}

// sum_j (s_a c_aj + b_a + mu_j)(s_b c_bj + b_b + mu_j)
template <class Isa, class Level>
float inner_product_symmetric(const std::byte* a, const std::byte* b, const float* mean, std::size_t dim) {
  using batch = typename Isa::batch;
  const LvqAffine fa = read_affine<Isa, Level>(a, dim);
  const LvqAffine fb = read_affine<Isa, Level>(b, dim);
  const batch step_a(fa.step), bias_a(fa.bias), step_b(fb.step), bias_b(fb.bias);
  return sum_products<Isa>(
      [&](std::size_t block, std::size_t k) {
        const batch mu = Isa::load(mean + offset<Isa>(block, k));
        return Product<batch>{xsimd::fma(Level::chunk(a, block, k), step_a, bias_a + mu),
                              xsimd::fma(Level::chunk(b, block, k), step_b, bias_b + mu)};
      },
      dim);
}

template <class Isa, class Level>
constexpr void fill_level(LvqKernels& t, std::size_t slot) {
  t.one_level[slot][0] = &l2<Isa, Level>;
  t.one_level[slot][1] = &inner_product<Isa, Level>;
  t.two_level[slot][0][0] = &first_level_only<&l2<Isa, Level>>;
  t.two_level[slot][0][1] = &first_level_only<&inner_product<Isa, Level>>;
  t.two_level[slot][1][0] = &l2_two_level<Isa, Level, Codes4<Isa>>;
  t.two_level[slot][1][1] = &inner_product_two_level<Isa, Level, Codes4<Isa>>;
  t.two_level[slot][2][0] = &l2_two_level<Isa, Level, Codes8<Isa>>;
  t.two_level[slot][2][1] = &inner_product_two_level<Isa, Level, Codes8<Isa>>;
  t.symmetric[slot][0] = &l2_symmetric<Isa, Level>;
  t.symmetric[slot][1] = &inner_product_symmetric<Isa, Level>;
}

template <class Isa>
constexpr LvqKernels make_kernels(const char* name) {
  LvqKernels t{};
  t.isa = name;
  fill_level<Isa, Codes4<Isa>>(t, lvq_slot(4));
  fill_level<Isa, Codes8<Isa>>(t, lvq_slot(8));
  return t;
}

}  // namespace
}  // namespace quiver::quant::lvq_simd
