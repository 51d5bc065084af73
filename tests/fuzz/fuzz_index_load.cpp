// Fuzzes Index::load. Input: a selector byte naming a template index directory and one of
// its files (index_templates.h), then that file's new contents. Unless the file is the
// manifest itself, the manifest is rewritten with the new file's size and CRC, so that
// mutations reach the graph, re-rank and encoder checks behind the checksum. An index
// that loads must then answer searches and take a new vector without failing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <vector>

#include "engine/manifest.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "quiver/search_params.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/index_templates.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<quiver::fuzz::IndexTemplate> templates =
      quiver::fuzz::build_index_templates(quiver::fuzz::scratch_directory() / "templates");
  if (size == 0) return 0;
  const auto& chosen = templates[data[0] % templates.size()];
  const auto& role = chosen.roles[(data[0] / templates.size()) % chosen.roles.size()];

  const auto directory = quiver::fuzz::scratch_directory() / "index";
  std::filesystem::remove_all(directory);
  std::filesystem::copy(chosen.directory, directory);
  if (role == "manifest") {
    quiver::fuzz::write_file(directory / quiver::engine::Manifest::file_name, data + 1, size - 1);
  } else {
    auto manifest = quiver::engine::Manifest::read(directory);
    auto& file = manifest.files.at(role);
    quiver::fuzz::write_file(directory / file.name, data + 1, size - 1);
    file = quiver::engine::describe_file(directory / file.name);
    manifest.write(directory);
  }

  try {
    auto index = quiver::Index::load(directory);
    const std::size_t live = index.size();
    if (live > 0) {
      quiver::SearchParams params;
      params.k = std::min<std::size_t>(live, 5);
      params.ef = 16;
      for (std::size_t row = 0; row < 3; ++row) {
        auto hits = index.search(chosen.data.row(row), params);
        if (hits.size() > params.k) std::abort();
        for (const auto& hit : hits) {
          if (!index.contains(hit.id)) std::abort();  // only live ids come back
        }
      }
      std::vector<std::uint64_t> ids;
      for (std::uint64_t id = 0; id < 16; ++id) {
        if (index.contains(id)) ids.push_back(id);
      }
      index.search_ids(chosen.data.row(0), ids, 4);
    }
    // Growing a loaded graph uses its header's level multiplier and capacity.
    const std::uint64_t new_id = 1u << 20;
    quiver::BuildOptions options;
    options.threads = 1;
    index.add(std::span(&new_id, 1), chosen.data.view().slice(1, 1), options);
    if (!index.contains(new_id)) std::abort();
    (void)index.memory_bytes();
  } catch (const quiver::Error&) {
    // Rejecting the directory is the expected outcome; anything else escapes and is a finding.
  }
  return 0;
}
