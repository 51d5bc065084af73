// FAISS (Debian's libfaiss-dev 1.7.3) as a peer: IndexHNSWFlat with the same M and
// efConstruction as quiver's default.
#pragma once

#include <cstddef>
#include <memory>

#include "bench/system.h"

namespace quiver::bench {

std::unique_ptr<System> make_faiss_system(std::size_t M, std::size_t ef_construction);

}  // namespace quiver::bench
