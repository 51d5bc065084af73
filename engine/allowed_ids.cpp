#include "quiver/allowed_ids.h"

#include <algorithm>

namespace quiver {

AllowedIds::AllowedIds(std::vector<std::uint64_t> ids) : ids_(std::move(ids)) {
  std::sort(ids_.begin(), ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
  if (!ids_.empty() && ids_.back() / 64 < ids_.size()) {
    bits_.assign(ids_.back() / 64 + 1, 0);
    for (auto id : ids_) bits_[id / 64] |= std::uint64_t{1} << (id % 64);
  }
}

bool AllowedIds::allows(std::uint64_t id) const {
  if (!bits_.empty()) return id / 64 < bits_.size() && ((bits_[id / 64] >> (id % 64)) & 1) != 0;
  return std::binary_search(ids_.begin(), ids_.end(), id);
}

}  // namespace quiver
