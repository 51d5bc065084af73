// FAISS (Debian's libfaiss-dev 1.7.3) as a peer, built with faiss::index_factory from
// a factory string: "HNSW32,Flat" (the uncompressed peer, same M and efConstruction as
// quiver's default), compressed graphs such as "PCA160,HNSW32_SQ8" or "HNSW32_SQ8",
// and inverted files such as "IVF1024,Flat". The swept search parameter is efSearch for
// HNSW indexes and nprobe for IVF ones.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "bench/system.h"

namespace quiver::bench {

// Throws InvalidArgument for a factory string FAISS rejects, or one that is neither an
// HNSW nor an IVF index (nothing to sweep).
std::unique_ptr<System> make_faiss_system(const std::string& factory, std::size_t ef_construction);

}  // namespace quiver::bench
