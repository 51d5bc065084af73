// manifest.json: the table of contents of an index directory (format version, spec,
// sizes, and each component file with its byte size and CRC-32). It is written last,
// atomically, so it always names a complete set of files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "quiver/index_spec.h"

namespace quiver::engine {

struct ManifestFile {
  std::string name;  // relative to the index directory
  std::uint64_t bytes = 0;
  std::uint32_t crc32 = 0;
};

struct Manifest {
  int format_version = 0;
  std::string quiver_version;
  IndexSpec spec;
  std::size_t elements = 0;  // graph slots, tombstones included
  std::size_t deleted = 0;
  std::uint64_t seed = 0;
  // Attention graphs: keys linked by insertion since the graph was learned from the
  // sample queries (absent in older manifests: 0).
  std::size_t inserted_since_learned = 0;
  std::map<std::string, ManifestFile> files;  // role ("graph") -> file

  static constexpr const char* file_name = "manifest.json";

  // Parses and validates `directory`/manifest.json. Throws NotFound if it is missing,
  // IncompatibleVersion for a newer format, CorruptFile for anything malformed.
  static Manifest read(const std::filesystem::path& directory);
  void write(const std::filesystem::path& directory) const;

  // Checks that the file for `role` exists with the recorded size and checksum.
  std::filesystem::path verified_path(const std::filesystem::path& directory, const std::string& role) const;
};

// Describes `path` (size and CRC) as a manifest entry named by its file name.
ManifestFile describe_file(const std::filesystem::path& path);

}  // namespace quiver::engine
