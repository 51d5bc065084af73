// Turns caller vectors into what an index stores — primary codes that the graph is
// built on and walked with (optionally LeanVec-reduced, then float or LVQ coded) and
// secondary codes at full dimension that re-rank the candidate buffer — and turns a
// query into what those codes are scored against. Owns the trained parts (LeanVec
// maps, LVQ means) and persists them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "quant/distance.h"
#include "quant/leanvec.h"
#include "quant/lvq_codec.h"
#include "quant/pq_codes.h"
#include "quant/pq_fast_scan.h"
#include "quant/query_aware_pq.h"
#include "quiver/index_spec.h"
#include "quiver/matrix.h"

namespace quiver::engine {

class VectorEncoder {
 public:
  // An encoder that needs no training data: float storage, or LVQ centred on zero.
  // Throws InvalidArgument for specs with LeanVec, which must be learned (use train).
  explicit VectorEncoder(const IndexSpec& spec);
  // Learns LeanVec maps (from `data`, and `sample_queries` for the OOD kind) and LVQ
  // means from `data`, as the spec asks.
  static VectorEncoder train(const IndexSpec& spec, MatrixView data, MatrixView sample_queries, std::size_t threads);

  void save(const std::filesystem::path& path) const;
  static VectorEncoder load(const IndexSpec& spec, const std::filesystem::path& path);
  // Whether there is anything to save (trained maps or means).
  bool has_trained_state() const { return leanvec_ || primary_lvq_ || secondary_lvq_ || pq_; }

  const IndexSpec& spec() const { return spec_; }
  std::size_t primary_bytes() const { return primary_bytes_; }
  std::size_t secondary_bytes() const { return secondary_bytes_; }  // 0: no re-rank

  // `x` has spec().dim finite values; `secondary` may be null when secondary_bytes() is 0.
  void encode(std::span<const float> x, std::byte* primary, std::byte* secondary) const;
  // The best full-dimension reconstruction of a stored vector (for compaction).
  void reconstruct(const std::byte* primary, const std::byte* secondary, std::span<float> out) const;
  // Code-to-code distance on primary codes for graph construction; smaller is closer.
  float symmetric_distance(const std::byte* a, const std::byte* b) const;

  struct Query {
    std::vector<float> full;     // normalised for cosine
    std::vector<float> reduced;  // LeanVec projection; empty without reduction
    std::optional<quant::LvqCodec::Query> primary_lvq;
    std::optional<quant::LvqCodec::Query> secondary_lvq;
    std::vector<float> pq_table;  // Qavq: sub_spaces x 2^bits inner products with the centroids
    quant::PqFastScanLut pq_bytes;  // Qavq with 4-bit sub-codes: pq_table quantized for the walk
    std::span<const float> primary() const { return reduced.empty() ? std::span<const float>(full) : reduced; }
  };
  Query prepare(std::span<const float> query) const;

  // Calls body(distance) with a value type scoring primary codes against `query`
  // (smaller is closer): one instantiation of the search per encoding and metric.
  template <typename Body>
  void with_primary_distance(const Query& query, Body&& body) const;

  // Whether the walk's distances are coarser than secondary_distance's even without a
  // re-rank encoding (4-bit qavq walks on a byte-quantized table): the buffer is then
  // scored again before the best are returned.
  bool walk_is_coarse() const { return pq_ && spec_.pq_bits == 4; }

  // Re-rank distance (smaller is closer) on the stored secondary (and primary) codes; the
  // float table for qavq without a re-rank encoding.
  float secondary_distance(const Query& query, const std::byte* primary, const std::byte* secondary) const;

 private:
  bool inner_product() const { return spec_.metric != Metric::L2; }
  void size_codes();

  IndexSpec spec_;
  const quant::DistanceKernels* kernels_;
  std::optional<quant::LeanVec> leanvec_;
  std::optional<quant::LvqCodec> primary_lvq_;    // primary LVQ codes (and the 4x8 residual level)
  std::optional<quant::LvqCodec> secondary_lvq_;  // rerank=lvq8 codes at full dimension
  std::optional<quant::QueryAwarePq> pq_;         // qavq primary codes
  // The qavq codes of one vector before padding: a byte per 8-bit sub-code, or nibbles.
  std::size_t pq_code_bytes() const {
    return spec_.pq_bits == 8 ? spec_.pq_sub_spaces : quant::packed_row_bytes(spec_.pq_sub_spaces);
  }
  std::size_t primary_bytes_ = 0;
  std::size_t secondary_bytes_ = 0;
};

// Distance functors, smaller is closer (inner products are negated).
template <bool Negate>
struct F32Distance {
  const float* query;
  std::size_t dim;
  quant::F32Kernel kernel;
  float operator()(const char* stored) const {
    float value = kernel(query, reinterpret_cast<const float*>(stored), dim);
    return Negate ? -value : value;
  }
};

template <bool Negate>
struct F16Distance {
  const float* query;
  std::size_t dim;
  quant::F16Kernel kernel;
  float operator()(const char* stored) const {
    float value = kernel(query, reinterpret_cast<const std::uint16_t*>(stored), dim);
    return Negate ? -value : value;
  }
};

template <bool Negate>
struct LvqDistance {
  const quant::LvqCodec::Query* query;
  quant::LvqCodec::DistanceFn kernel;
  std::size_t dim;
  float operator()(const char* stored) const {
    float value = kernel(*query, reinterpret_cast<const std::byte*>(stored), dim);
    return Negate ? -value : value;
  }
};

// Qavq: the lookup table's inner product, negated, for 8-bit sub-codes (one per byte) or
// 4-bit ones packed two to a byte (quant::packed_nibble), whose 16-entry table per
// sub-space stays in L1 where the 8-bit one does not. Four sums, so that the lookups are
// not serialised behind one chain of additions (one chain made the score of a 32-byte
// code cost about four times the latency of its loads).
template <unsigned Bits>
struct PqTableDistance {
  static_assert(Bits == 4 || Bits == 8);
  const float* table;
  std::size_t sub_spaces;
  static unsigned code(const std::uint8_t* codes, std::size_t m) {
    if constexpr (Bits == 8) {
      return codes[m];
    } else {
      return quant::packed_nibble(codes, m);
    }
  }
  float operator()(const char* stored) const {
    constexpr std::size_t width = std::size_t{1} << Bits;
    const auto* codes = reinterpret_cast<const std::uint8_t*>(stored);
    float sums[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::size_t m = 0;
    for (; m + 4 <= sub_spaces; m += 4) {
      for (std::size_t j = 0; j < 4; ++j) sums[j] += table[(m + j) * width + code(codes, m + j)];
    }
    for (; m < sub_spaces; ++m) sums[0] += table[m * width + code(codes, m)];
    return -((sums[0] + sums[1]) + (sums[2] + sums[3]));
  }
};

// Qavq with 4-bit sub-codes, as the walk scores them: the table quantized to bytes
// (quant::PqFastScanLut), so that a whole neighbour list is scored by the fast-scan
// kernel, 32 codes per pass of byte shuffles, rather than one table walk per code. A
// single code sums the same bytes, so both paths give identical distances.
struct PqFastScanDistance {
  const quant::PqFastScanLut* lut;
  quant::PqFastScanRowsFn scan_rows;
  std::size_t pairs;
  float operator()(const char* stored) const {
    const auto* codes = reinterpret_cast<const std::uint8_t*>(stored);
    const std::uint8_t* table = lut->table.data();
    std::uint32_t sum = 0;
    for (std::size_t p = 0; p < pairs; ++p) {
      sum += table[p * quant::kFastScanPairBytes + (codes[p] & 15u)] +
             table[p * quant::kFastScanPairBytes + 16 + (codes[p] >> 4)];
    }
    return -lut->score(sum);
  }
  // out[i] = (*this)(stored[i]) for i < count.
  void score_batch(const char* const* stored, std::size_t count, float* out) const {
    const std::uint8_t* rows[quant::kFastScanBlock];
    std::uint32_t sums[quant::kFastScanBlock];
    for (std::size_t first = 0; first < count; first += quant::kFastScanBlock) {
      const std::size_t n = std::min(quant::kFastScanBlock, count - first);
      for (std::size_t i = 0; i < n; ++i) rows[i] = reinterpret_cast<const std::uint8_t*>(stored[first + i]);
      scan_rows(rows, n, pairs, lut->table.data(), sums);
      for (std::size_t i = 0; i < n; ++i) out[first + i] = -lut->score(sums[i]);
    }
  }
};

template <typename Body>
void VectorEncoder::with_primary_distance(const Query& query, Body&& body) const {
  auto q = query.primary();
  bool ip = inner_product();
  switch (spec_.primary) {
    case Encoding::F32:
      if (ip) {
        body(F32Distance<true>{q.data(), q.size(), kernels_->dot});
      } else {
        body(F32Distance<false>{q.data(), q.size(), kernels_->l2_sq});
      }
      return;
    case Encoding::F16:
      if (ip) {
        body(F16Distance<true>{q.data(), q.size(), kernels_->dot_f16});
      } else {
        body(F16Distance<false>{q.data(), q.size(), kernels_->l2_sq_f16});
      }
      return;
    case Encoding::Qavq:
      if (spec_.pq_bits == 8) {
        body(PqTableDistance<8>{query.pq_table.data(), spec_.pq_sub_spaces});
      } else {
        body(PqFastScanDistance{&query.pq_bytes, quant::pq_fast_scan_kernels().scan_rows,
                                quant::packed_row_bytes(spec_.pq_sub_spaces)});
      }
      return;
    case Encoding::Lvq8:
    case Encoding::Lvq4:
    case Encoding::Lvq4x8: {
      auto kind = ip ? quant::LvqCodec::Kind::InnerProduct : quant::LvqCodec::Kind::L2;
      if (ip) {
        body(LvqDistance<true>{&*query.primary_lvq, primary_lvq_->distance_fn(kind), q.size()});
      } else {
        body(LvqDistance<false>{&*query.primary_lvq, primary_lvq_->distance_fn(kind), q.size()});
      }
      return;
    }
  }
}

}  // namespace quiver::engine
