// A predicate on vector ids, checked inside the graph walk so that a filtered search
// still returns k allowed results (never post-filtering of an unfiltered top-k).
#pragma once

#include <cstdint>

#include "quiver/export.h"

namespace quiver {

class QUIVER_API IdFilter {
 public:
  virtual ~IdFilter() = default;
  virtual bool allows(std::uint64_t id) const = 0;
};

}  // namespace quiver
