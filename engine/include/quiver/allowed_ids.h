// A fixed set of allowed vector ids: what a metadata filter expression evaluates to
// (AttributeStore::select). As an IdFilter it plugs into SearchParams::filter for the
// graph walk; its sorted ids feed Index::search_ids when the set is small enough to
// score exhaustively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "quiver/export.h"
#include "quiver/id_filter.h"

namespace quiver {

class QUIVER_API AllowedIds final : public IdFilter {
 public:
  AllowedIds() = default;
  // Sorts and removes duplicates.
  explicit AllowedIds(std::vector<std::uint64_t> ids);

  bool allows(std::uint64_t id) const override;
  std::span<const std::uint64_t> ids() const { return ids_; }  // ascending
  std::size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }

 private:
  std::vector<std::uint64_t> ids_;
  // When ids are dense (the largest is at most 64 x the count), a bitset costs no more
  // memory than the sorted list and answers allows() in O(1) inside the graph walk;
  // otherwise allows() is a binary search.
  std::vector<std::uint64_t> bits_;
};

}  // namespace quiver
