// `quiver info`: describes a saved index: what it was built as, how big it is, and the
// files it consists of. Reads manifest.json (the index's table of contents, written by
// engine/manifest.cpp) for format and file details, and loads the index for live
// counts and memory, which also verifies every file's size and checksum.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "text_format.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

constexpr const char* manifest_name = "manifest.json";

struct InfoArgs {
  std::filesystem::path index_dir;
  bool json_output = false;
};

json read_manifest(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw NotFound("index directory '" + dir.string() + "' does not exist");
  }
  const auto path = dir / manifest_name;
  if (!std::filesystem::exists(path, ec)) {
    throw NotFound("'" + dir.string() + "' is not a quiver index: it has no " + manifest_name);
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  json manifest = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object()) throw CorruptFile(path.string() + ": not a JSON object");
  return manifest;
}

template <typename T>
T value_or(const json& object, const char* key, T fallback) {
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

// Manifest entries plus manifest.json itself, with sizes as found on disk.
json describe_files(const std::filesystem::path& dir, const json& manifest) {
  json files = json::array();
  const auto listed = manifest.find("files");
  if (listed != manifest.end() && listed->is_object()) {
    for (const auto& [role, entry] : listed->items()) {
      const auto name = value_or<std::string>(entry, "name", "");
      std::error_code ec;
      const auto bytes = std::filesystem::file_size(dir / name, ec);
      json file = {{"role", role}, {"name", name}, {"bytes", ec ? json(nullptr) : json(bytes)}};
      if (entry.contains("crc32")) file["crc32"] = entry["crc32"];
      files.push_back(std::move(file));
    }
  }
  std::error_code ec;
  files.push_back({{"role", "manifest"}, {"name", manifest_name},
                   {"bytes", std::filesystem::file_size(dir / manifest_name, ec)}});
  return files;
}

json describe(const std::filesystem::path& dir, const json& manifest, const Index* index) {
  json out = {
      {"path", dir.string()},
      {"format", value_or<std::string>(manifest, "format", "")},
      {"format_version", value_or<int>(manifest, "format_version", 0)},
      {"quiver_version", value_or<std::string>(manifest, "quiver_version", "")},
      {"spec", value_or<std::string>(manifest, "spec", "")},
      {"metric", value_or<std::string>(manifest, "metric", "")},
      {"dim", value_or<std::size_t>(manifest, "dim", 0)},
      {"elements", value_or<std::size_t>(manifest, "elements", 0)},
      {"deleted", value_or<std::size_t>(manifest, "deleted", 0)},
  };
  json build = {{"seed", value_or<std::uint64_t>(manifest, "seed", 0)}};
  if (index != nullptr) {
    const IndexSpec& spec = index->spec();
    out["spec"] = spec.to_string();
    out["metric"] = to_string(spec.metric);
    out["dim"] = spec.dim;
    out["size"] = index->size();
    out["deleted"] = index->deleted_count();
    out["memory_bytes"] = index->memory_bytes();
    build["graph"] = "hnsw";
    build["M"] = spec.M;
    build["ef_construction"] = spec.ef_construction;
    build["encoding"] = to_string(spec.primary);
    build["reduced_dim"] = spec.primary_dim();
    build["rerank"] = to_string(spec.rerank);
    out["primary_code_bytes"] = index->primary_code_bytes();
    out["rerank_code_bytes"] = index->rerank_code_bytes();
  }
  out["build"] = std::move(build);
  json files = describe_files(dir, manifest);
  std::uint64_t disk_bytes = 0;
  for (const auto& file : files) {
    if (file["bytes"].is_number()) disk_bytes += file["bytes"].get<std::uint64_t>();
  }
  out["files"] = std::move(files);
  out["disk_bytes"] = disk_bytes;
  return out;
}

void print_text(const json& info) {
  auto line = [](const char* key, const std::string& value) { std::printf("%-15s %s\n", key, value.c_str()); };
  line("index", info["path"].get<std::string>());
  line("spec", info["spec"].get<std::string>());
  line("metric", info["metric"].get<std::string>());
  line("dim", std::to_string(info["dim"].get<std::size_t>()));
  if (info.contains("size")) {
    line("live vectors", format_count(info["size"].get<std::size_t>()));
    line("deleted", format_count(info["deleted"].get<std::size_t>()) +
                        (info["deleted"].get<std::size_t>() > 0 ? " (tombstones; compact to reclaim)" : ""));
    line("memory", format_bytes(info["memory_bytes"].get<std::uint64_t>()) + " (vectors + graph, when loaded)");
    line("bytes/vector", std::to_string(info["primary_code_bytes"].get<std::size_t>()) + " walked (" +
                             info["build"]["encoding"].get<std::string>() + ", " +
                             std::to_string(info["build"]["reduced_dim"].get<std::size_t>()) + " dims), " +
                             std::to_string(info["rerank_code_bytes"].get<std::size_t>()) + " re-rank (" +
                             info["build"]["rerank"].get<std::string>() + ")");
  }
  std::string format = info["format"].get<std::string>() + " version " + std::to_string(info["format_version"].get<int>());
  if (!info["quiver_version"].get<std::string>().empty()) {
    format += " (written by quiver " + info["quiver_version"].get<std::string>() + ")";
  }
  line("format", format);
  const json& build = info["build"];
  std::string build_text;
  if (build.contains("M")) {
    build_text = "hnsw M=" + std::to_string(build["M"].get<std::size_t>()) +
                 ", ef_construction=" + std::to_string(build["ef_construction"].get<std::size_t>()) +
                 ", vectors " + build["encoding"].get<std::string>() + ", ";
  }
  build_text += "seed " + std::to_string(build["seed"].get<std::uint64_t>());
  line("build", build_text);
  std::printf("files\n");
  std::size_t name_width = 0;
  for (const auto& file : info["files"]) name_width = std::max(name_width, file["name"].get<std::string>().size());
  for (const auto& file : info["files"]) {
    const std::string size = file["bytes"].is_number() ? format_bytes(file["bytes"].get<std::uint64_t>()) : "missing";
    std::string crc;
    if (file.contains("crc32") && file["crc32"].is_number()) {
      char text[24];
      std::snprintf(text, sizeof text, "crc32 %08x", file["crc32"].get<std::uint32_t>());
      crc = text;
    }
    std::printf("  %-13s %-*s  %10s  %s\n", file["role"].get<std::string>().c_str(), static_cast<int>(name_width),
                file["name"].get<std::string>().c_str(), size.c_str(), crc.c_str());
  }
  line("on disk", format_bytes(info["disk_bytes"].get<std::uint64_t>()));
}

int run_info(const InfoArgs& args) {
  const json manifest = read_manifest(args.index_dir);
  std::optional<Index> index;
  std::optional<std::string> load_error;
  try {
    index.emplace(Index::load(args.index_dir));
  } catch (const Error& error) {
    // Still show what the manifest says: that is what one needs to diagnose it.
    load_error = error.what();
  }
  json info = describe(args.index_dir, manifest, index ? &*index : nullptr);
  if (load_error) info["error"] = *load_error;
  if (args.json_output) {
    std::printf("%s\n", info.dump(2).c_str());
  } else {
    print_text(info);
  }
  if (load_error) throw CorruptFile("index '" + args.index_dir.string() + "' does not load: " + *load_error);
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Describe a saved index: spec, size, memory, format and files.");
  cmd->add_option("INDEX_DIR", args->index_dir, "Index directory written by `quiver build`")
      ->type_name("DIR")
      ->required();
  cmd->add_flag("--json", args->json_output, "Print one JSON object instead of text (for scripts)");
  cmd->footer(
      "Loading the index verifies every file's size and checksum; a damaged index is still\n"
      "described from its manifest, followed by the error (exit code 1).\n"
      "\n"
      "Example:\n"
      "  quiver info fmnist.idx\n"
      "  quiver info fmnist.idx --json | jq .memory_bytes");
  return {cmd, [args] { return run_info(*args); }};
}

}  // namespace quiver::cli
