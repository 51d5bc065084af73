// The relevance filter's file: one JSON document with a format name and version, the
// adapter's inputs, network and map, and a checksum of the rest of the document, so that
// a damaged or edited file is rejected rather than silently mis-scoring results.
#pragma once

#include <filesystem>

#include "filters/filter_model.h"

namespace quiver::filters {

// Atomic (temp file, fsync, rename). Throws IoError.
void save_filter_model(const FilterModel& model, const std::filesystem::path& path);

// Throws NotFound, IoError, CorruptFile (naming the file and what is wrong) or
// IncompatibleVersion (a newer format than this build reads).
FilterModel load_filter_model(const std::filesystem::path& path);

}  // namespace quiver::filters
