// 4-bit PQ "fast scan" (André, Kermarrec and Le Scouarnec, VLDB 2015; FAISS's PQ4 fast
// scan): the per-query float lookup table is quantized to bytes so that one 16-entry
// table fits a SIMD register, and a byte shuffle scores 32 vectors per sub-space pair.
// pq_flat_search calls it for every 4-bit scan; one kernel per instruction set, picked
// with the same variant as distance.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "quant/pq_codes.h"

namespace quiver::quant {

// A float lookup table (sub_spaces x 16) quantized to bytes with one scale for all
// sub-spaces, so that byte sums compare like float sums:
//   float score ≈ bias + scale * Σ_m table[m][code_m],
// off by at most max_error() (each entry is rounded to the nearest step).
struct PqFastScanLut {
  std::vector<std::uint8_t> table;  // pairs x kFastScanPairBytes: row m at m * 16, a zero row pads odd counts
  std::size_t sub_spaces = 0;
  float bias = 0;   // Σ_m min_c lut[m][c]
  float scale = 0;  // float units per byte step

  float score(std::uint32_t sum) const { return bias + scale * static_cast<float>(sum); }
  float max_error() const { return 0.5f * scale * static_cast<float>(sub_spaces); }
};

// `lut`: sub_spaces x 16 floats, all finite. Throws InvalidArgument on another size.
PqFastScanLut quantize_lut(std::span<const float> lut, std::size_t sub_spaces);

// out[i] = Σ_m table[m][code of vector i in sub-space m] for all blocks * 32 vectors of
// `blocks` consecutive blocks starting at `codes` (PqCodes::block layout with `pairs` pairs).
// Exact integer sums: every variant returns the same values.
using PqFastScanFn = void (*)(const std::uint8_t* codes, std::size_t blocks, std::size_t pairs,
                              const std::uint8_t* table, std::uint32_t* out);

// out[i] = the same sums for `count` vectors whose codes are nibble-packed rows
// (packed_nibble: `pairs` bytes each, sub-spaces 2p and 2p + 1 in byte p), wherever they
// lie: a graph walk's neighbour list, scored together without a stored block layout. The
// SIMD variants transpose up to 32 rows into a block in registers, then scan it.
using PqFastScanRowsFn = void (*)(const std::uint8_t* const* rows, std::size_t count, std::size_t pairs,
                                  const std::uint8_t* table, std::uint32_t* out);

struct PqFastScanKernels {
  const char* isa;  // as DistanceKernels::isa
  PqFastScanFn scan;
  PqFastScanRowsFn scan_rows;
};

// The variant for kernels().isa, i.e. the running CPU or QUIVER_ISA.
const PqFastScanKernels& pq_fast_scan_kernels();
// The variant for instruction set `isa` (a name from supported_kernels()); ISAs without
// one of their own get the best they include (avx512 -> avx2) or the scalar loop. Throws
// InvalidArgument if kernels_for_isa(isa) does.
const PqFastScanKernels& pq_fast_scan_kernels_for_isa(std::string_view isa);

}  // namespace quiver::quant
