// The product-quantization codes of a set of vectors: one sub-code per sub-space, 8 bits
// (one byte each, row-major) or 4 bits (in the fast-scan layout that pq_fast_scan.h's
// kernels read). Produced by QueryAwarePq::encode, scanned by pq_flat_search.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace quiver::quant {

// 4-bit layout: vectors come in blocks of 32 and sub-spaces in pairs. For block b and
// pair p there are 32 bytes: bytes [0, 16) hold sub-space 2p, bytes [16, 32) sub-space
// 2p + 1; byte j of each half holds vector j's code in its low nibble and vector j + 16's
// in its high nibble. One 256-bit shuffle then looks up both sub-spaces of 16 vectors at
// once (see pq_fast_scan.h). Missing vectors of the last block and the missing sub-space
// of an odd count have code 0.
inline constexpr std::size_t kFastScanBlock = 32;
inline constexpr std::size_t kFastScanPairBytes = 32;

// One vector's 4-bit sub-codes stored on their own, as an index row rather than in
// fast-scan blocks: sub-space m in byte m / 2, in the low nibble when m is even.
inline std::size_t packed_row_bytes(std::size_t sub_spaces) { return (sub_spaces + 1) / 2; }
inline unsigned packed_nibble(const std::uint8_t* row, std::size_t m) { return (row[m / 2] >> (4 * (m % 2))) & 15u; }

class PqCodes {
 public:
  PqCodes() = default;
  // `labels`: size x sub_spaces codes, row-major, each < 2^bits. bits is 4 or 8.
  // Throws InvalidArgument on another width, a code out of range or a size mismatch.
  PqCodes(const std::vector<std::uint8_t>& labels, std::size_t sub_spaces, unsigned bits);

  std::size_t size() const { return size_; }
  std::size_t sub_spaces() const { return sub_spaces_; }
  unsigned bits() const { return bits_; }
  std::size_t memory_bytes() const { return bytes_.size(); }

  // Sub-code m of vector i; no bounds check beyond a debug assertion.
  unsigned get(std::size_t i, std::size_t m) const;

  // 8 bits: the sub_spaces() codes of vector i.
  const std::uint8_t* row(std::size_t i) const { return bytes_.data() + i * sub_spaces_; }

  // 4 bits: blocks of kFastScanBlock vectors, each pairs() x kFastScanPairBytes bytes.
  std::size_t blocks() const { return (size_ + kFastScanBlock - 1) / kFastScanBlock; }
  std::size_t pairs() const { return (sub_spaces_ + 1) / 2; }
  const std::uint8_t* block(std::size_t b) const { return bytes_.data() + b * pairs() * kFastScanPairBytes; }

 private:
  std::size_t fast_scan_byte(std::size_t i, std::size_t m) const {
    return (i / kFastScanBlock * pairs() + m / 2) * kFastScanPairBytes + (m % 2) * 16 + i % 16;
  }

  std::size_t size_ = 0;
  std::size_t sub_spaces_ = 0;
  unsigned bits_ = 8;
  std::vector<std::uint8_t> bytes_;
};

}  // namespace quiver::quant
