// Everything a trained relevance filter is: the adapter plus the options and summary of
// its training and the caller's provenance note. RelevanceFilter holds one; the model file
// stores one.
#pragma once

#include <string>

#include "filters/cosine_adapter.h"
#include "quiver/relevance_filter.h"

namespace quiver::filters {

struct FilterModel {
  CosineAdapter adapter;
  RelevanceOptions options;
  RelevanceTrainingSummary summary;
  std::string provenance;
};

}  // namespace quiver::filters
