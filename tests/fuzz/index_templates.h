// The small valid index directories that the index-loader fuzz target mutates, one per
// kind of component file (graph only; graph + re-rank codes; + a trained encoder), and
// the selector byte that names a (template, component) pair. Shared with make_seeds.cpp
// so that every seed input decodes to the component it was cut from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/manifest.h"
#include "quiver/index.h"
#include "quiver/index_spec.h"
#include "quiver/matrix.h"

namespace quiver::fuzz {

struct IndexTemplate {
  std::filesystem::path directory;
  std::vector<std::string> roles;  // "manifest", then the manifest's file roles
  Matrix data;                     // the vectors it was built from (row 0 is a query)
};

inline constexpr std::size_t template_rows = 48;
inline constexpr std::size_t template_dim = 8;

inline Matrix template_data(std::uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal;
  Matrix data(template_rows, template_dim);
  for (auto& v : data.values) v = normal(random);
  return data;
}

// Builds the templates under `root`: each is saved after a few removals, so that
// tombstones are part of what the loader checks.
inline std::vector<IndexTemplate> build_index_templates(const std::filesystem::path& root) {
  struct Recipe {
    const char* spec;
    Metric metric;
  };
  const Recipe recipes[] = {
      {"hnsw4", Metric::L2},
      {"hnsw4,lvq8,rerank=f16", Metric::Cosine},
      {"hnsw4,leanvec4,lvq4", Metric::InnerProduct},
      {"hnsw4,qavq4x4,rerank=none", Metric::InnerProduct},
  };
  std::vector<IndexTemplate> templates;
  std::uint32_t seed = 7;
  for (const auto& recipe : recipes) {
    IndexTemplate t;
    t.data = template_data(seed++);
    t.directory = root / ("template-" + std::to_string(templates.size()));
    auto spec = IndexSpec::parse(recipe.spec, recipe.metric, template_dim);
    BuildOptions options;
    options.threads = 1;
    auto index = Index::build(spec, t.data, {}, options);
    index.remove(3);
    index.remove(11);
    index.save(t.directory);
    t.roles.push_back("manifest");
    for (const auto& [role, file] : engine::Manifest::read(t.directory).files) t.roles.push_back(role);
    templates.push_back(std::move(t));
  }
  return templates;
}

// The selector byte for component `role_index` of template `template_index`, and back.
inline std::uint8_t index_selector(std::size_t template_index, std::size_t role_index, std::size_t templates) {
  return static_cast<std::uint8_t>(role_index * templates + template_index);
}

}  // namespace quiver::fuzz
