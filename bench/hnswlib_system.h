// hnswlib (Debian's libhnswlib-dev) as a peer: HierarchicalNSW<float> with the same M
// and ef_construction as quiver's default, built by threads calling addPoint. Its TU is
// the only one that includes hnswlib, which defines non-inline functions in its header.
#pragma once

#include <cstddef>
#include <memory>

#include "bench/system.h"

namespace quiver::bench {

std::unique_ptr<System> make_hnswlib_system(std::size_t M, std::size_t ef_construction);

}  // namespace quiver::bench
