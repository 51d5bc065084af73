// Fuzzes RelevanceFilter::load. Input: a selector byte, then the file. With selector bit 0
// set and a payload that is a JSON object, the harness re-seals the document with a
// correct checksum (the file's FNV-1a over its canonical dump) before writing it, so that
// mutations reach the field and shape checks behind the checksum; otherwise the bytes are
// written as they are. A filter that loads must then score a query without failing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quiver/error.h"
#include "quiver/relevance_filter.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// Mirrors filters/filter_model_file.cpp: FNV-1a 64 over the compact dump without "checksum".
std::string checksum(const nlohmann::json& document) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : document.dump()) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  char text[32];
  std::snprintf(text, sizeof text, "fnv1a64:%016llx", static_cast<unsigned long long>(hash));
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string payload(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string file = payload;
  if (data[0] & 1) {
    auto document = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (document.is_object()) {
      document.erase("checksum");
      document["checksum"] = checksum(document);
      file = document.dump() + "\n";
    }
  }
  auto path = quiver::fuzz::write_input("filter.json",
                                        reinterpret_cast<const std::uint8_t*>(file.data()), file.size());
  try {
    auto filter = quiver::RelevanceFilter::load(path);
    // Scoring allocates per dimension and per hit; keep the work per input small.
    if (filter.dim() > 4096 || filter.training_k() > 4096) return 0;
    std::vector<float> query(filter.dim(), 0.25f);
    std::vector<quiver::Hit> hits(std::max<std::size_t>(filter.training_k(), 1));
    for (std::size_t i = 0; i < hits.size(); ++i) {
      hits[i].id = i;
      hits[i].score = 1.0f - static_cast<float>(i) / static_cast<float>(hits.size());
    }
    auto relevance = filter.relevance(query, hits, filter.metric());
    if (relevance.size() != hits.size()) std::abort();
  } catch (const quiver::Error&) {
    // Rejecting the file (or a query it cannot score) is the expected outcome.
  }
  return 0;
}
