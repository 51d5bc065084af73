#include "quant/pq_codes.h"

#include <cassert>
#include <string>

#include "quiver/error.h"

namespace quiver::quant {

PqCodes::PqCodes(const std::vector<std::uint8_t>& labels, std::size_t sub_spaces, unsigned bits)
    : sub_spaces_(sub_spaces), bits_(bits) {
  if (bits != 4 && bits != 8) {
    throw InvalidArgument("PqCodes: " + std::to_string(bits) + "-bit sub-codes; expected 4 or 8");
  }
  if (sub_spaces == 0 || labels.size() % sub_spaces != 0) {
    throw InvalidArgument("PqCodes: " + std::to_string(labels.size()) + " labels do not split into rows of " +
                          std::to_string(sub_spaces) + " sub-spaces");
  }
  size_ = labels.size() / sub_spaces;
  if (bits == 8) {
    bytes_ = labels;
    return;
  }
  bytes_.assign(blocks() * pairs() * kFastScanPairBytes, 0);
  for (std::size_t i = 0; i < size_; ++i) {
    for (std::size_t m = 0; m < sub_spaces; ++m) {
      const unsigned code = labels[i * sub_spaces + m];
      if (code > 15) {
        throw InvalidArgument("PqCodes: code " + std::to_string(code) + " of vector " + std::to_string(i) +
                              ", sub-space " + std::to_string(m) + " does not fit in 4 bits");
      }
      const unsigned shift = i % kFastScanBlock < 16 ? 0 : 4;
      bytes_[fast_scan_byte(i, m)] |= static_cast<std::uint8_t>(code << shift);
    }
  }
}

unsigned PqCodes::get(std::size_t i, std::size_t m) const {
  assert(i < size_ && m < sub_spaces_);
  if (bits_ == 8) return bytes_[i * sub_spaces_ + m];
  const unsigned shift = i % kFastScanBlock < 16 ? 0 : 4;
  return (bytes_[fast_scan_byte(i, m)] >> shift) & 0xfu;
}

}  // namespace quiver::quant
