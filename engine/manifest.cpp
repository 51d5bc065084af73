#include "engine/manifest.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/durable_file.h"
#include "quiver/error.h"
#include "quiver/index.h"

namespace quiver::engine {

namespace {

using nlohmann::json;

const char* const format_name = "quiver-index";

template <typename T>
T field(const json& object, const char* key, const std::filesystem::path& path) {
  auto it = object.find(key);
  if (it == object.end()) throw CorruptFile(path.string() + ": missing field '" + key + "'");
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw CorruptFile(path.string() + ": field '" + key + "' has the wrong type");
  }
}

// A string that only labels or identifies (format, quiver_version): absent or of
// another type, it reads as `fallback` rather than throwing json's type_error.
std::string optional_string(const json& object, const char* key, const std::string& fallback) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

}  // namespace

Manifest Manifest::read(const std::filesystem::path& directory) {
  auto path = directory / file_name;
  if (!std::filesystem::exists(directory)) throw NotFound("index directory '" + directory.string() + "' does not exist");
  if (!std::filesystem::exists(path)) {
    throw NotFound("'" + directory.string() + "' is not a quiver index: it has no " + file_name);
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  json document;
  try {
    document = json::parse(text.str());
  } catch (const json::parse_error& error) {
    throw CorruptFile(path.string() + ": not valid JSON at byte " + std::to_string(error.byte));
  } catch (const json::exception& error) {  // out_of_range: a number beyond double (1e999)
    throw CorruptFile(path.string() + ": not valid JSON (" + error.what() + ")");
  }
  if (!document.is_object() || optional_string(document, "format", "") != format_name) {
    throw CorruptFile(path.string() + ": not a quiver index manifest (no \"format\": \"" + format_name + "\")");
  }

  Manifest manifest;
  manifest.format_version = field<int>(document, "format_version", path);
  if (manifest.format_version > index_format_version) {
    throw IncompatibleVersion(path.string() + ": index format version " + std::to_string(manifest.format_version) +
                              " was written by a newer quiver (" +
                              optional_string(document, "quiver_version", "unknown") + "); this build reads up to " +
                              std::to_string(index_format_version) + ": upgrade quiver to load it");
  }
  if (manifest.format_version < 1) throw CorruptFile(path.string() + ": format_version must be at least 1");
  manifest.quiver_version = optional_string(document, "quiver_version", "");
  try {
    manifest.spec = IndexSpec::parse(field<std::string>(document, "spec", path),
                                     parse_metric(field<std::string>(document, "metric", path)),
                                     field<std::size_t>(document, "dim", path));
  } catch (const InvalidArgument& error) {
    throw CorruptFile(path.string() + ": " + error.what());
  }
  manifest.elements = field<std::size_t>(document, "elements", path);
  manifest.deleted = field<std::size_t>(document, "deleted", path);
  manifest.seed = field<std::uint64_t>(document, "seed", path);
  if (manifest.deleted > manifest.elements) throw CorruptFile(path.string() + ": more deleted than elements");
  if (document.contains("inserted_since_learned")) {
    manifest.inserted_since_learned = field<std::size_t>(document, "inserted_since_learned", path);
    if (manifest.inserted_since_learned > manifest.elements) {
      throw CorruptFile(path.string() + ": more keys inserted since the graph was learned than elements");
    }
  }
  auto files = document.find("files");
  if (files == document.end() || !files->is_object()) throw CorruptFile(path.string() + ": missing 'files'");
  for (auto& [role, entry] : files->items()) {
    ManifestFile file{field<std::string>(entry, "name", path), field<std::uint64_t>(entry, "bytes", path),
                      field<std::uint32_t>(entry, "crc32", path)};
    if (file.name.empty() || file.name.find('/') != std::string::npos || file.name.starts_with(".")) {
      throw CorruptFile(path.string() + ": file name '" + file.name + "' must be a plain name inside the index");
    }
    manifest.files[role] = file;
  }
  return manifest;
}

void Manifest::write(const std::filesystem::path& directory) const {
  json document = {
      {"format", format_name},
      {"format_version", format_version},
      {"quiver_version", quiver_version},
      {"spec", spec.to_string()},
      {"metric", to_string(spec.metric)},
      {"dim", spec.dim},
      {"elements", elements},
      {"deleted", deleted},
      {"seed", seed},
      {"inserted_since_learned", inserted_since_learned},
      {"files", json::object()},
  };
  for (const auto& [role, file] : files) {
    document["files"][role] = {{"name", file.name}, {"bytes", file.bytes}, {"crc32", file.crc32}};
  }
  write_text_atomically(directory / file_name, document.dump(2) + "\n");
}

std::filesystem::path Manifest::verified_path(const std::filesystem::path& directory, const std::string& role) const {
  auto it = files.find(role);
  if (it == files.end()) throw CorruptFile((directory / file_name).string() + ": no '" + role + "' file listed");
  auto path = directory / it->second.name;
  if (!std::filesystem::exists(path)) {
    throw CorruptFile(path.string() + ": listed in the manifest but missing");
  }
  auto bytes = std::filesystem::file_size(path);
  if (bytes != it->second.bytes) {
    throw CorruptFile(path.string() + ": " + std::to_string(bytes) + " bytes, the manifest says " +
                      std::to_string(it->second.bytes) + " (truncated or replaced)");
  }
  if (file_crc32(path) != it->second.crc32) {
    throw CorruptFile(path.string() + ": checksum mismatch (the file is damaged)");
  }
  return path;
}

ManifestFile describe_file(const std::filesystem::path& path) {
  return {path.filename().string(), std::filesystem::file_size(path), file_crc32(path)};
}

}  // namespace quiver::engine
