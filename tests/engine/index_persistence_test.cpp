#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/manifest.h"
#include "engine/temp_directory.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

std::filesystem::path graph_file(const std::filesystem::path& dir) {
  return dir / engine::Manifest::read(dir).files.at("graph").name;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void write_json(const std::filesystem::path& path, const nlohmann::json& document) {
  std::ofstream(path) << document.dump(2);
}

// Rewrites bytes of the graph file and re-records its size and checksum, as a
// crafted (not merely damaged) file would.
void patch_graph(const std::filesystem::path& dir, std::size_t offset, const void* bytes, std::size_t size) {
  auto graph = graph_file(dir);
  {
    std::fstream file(graph, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(offset));
    file.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(size));
  }
  auto manifest = read_json(dir / "manifest.json");
  auto described = engine::describe_file(graph);
  manifest["files"]["graph"]["crc32"] = described.crc32;
  manifest["files"]["graph"]["bytes"] = described.bytes;
  write_json(dir / "manifest.json", manifest);
}

Index small_index(Metric metric = Metric::L2, const char* spec = "hnsw8") {
  return Index::build(IndexSpec::parse(spec, metric, 12), clustered_vectors(800, 12, 5));
}

}  // namespace

TEST_CASE("save and load round-trip: same spec, size, tombstones and results") {
  TempDirectory dir;
  auto data = clustered_vectors(800, 12, 5);
  for (auto spec : {"hnsw8,f32", "hnsw12,efc50,f16"}) {
    for (auto metric : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
      auto index = Index::build(IndexSpec::parse(spec, metric, 12), data);
      index.remove(3);
      index.save(dir.path());
      auto loaded = Index::load(dir.path());
      CHECK(loaded.spec().to_string() == index.spec().to_string());
      CHECK(loaded.spec().metric == metric);
      CHECK(loaded.size() == 799);
      CHECK(loaded.deleted_count() == 1);
      CHECK_FALSE(loaded.contains(3));
      for (std::size_t q = 0; q < 20; ++q) {
        auto a = index.search(data.row(q), {.k = 5, .ef = 32});
        auto b = loaded.search(data.row(q), {.k = 5, .ef = 32});
        REQUIRE(a.size() == b.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
          CHECK(a[i].id == b[i].id);
          CHECK(a[i].score == b[i].score);
        }
      }
    }
  }
}

TEST_CASE("an empty index saves and loads") {
  TempDirectory dir;
  Index::create(IndexSpec::parse("hnsw8", Metric::Cosine, 4)).save(dir.path());
  auto loaded = Index::load(dir.path());
  CHECK(loaded.size() == 0);
  CHECK(loaded.spec().dim == 4);
}

TEST_CASE("saving again replaces the index and leaves no stale graph files") {
  TempDirectory dir;
  auto first = small_index();
  first.save(dir.path());
  auto second = Index::build(IndexSpec::parse("hnsw8", Metric::L2, 12), clustered_vectors(300, 12, 6));
  second.save(dir.path());
  CHECK(Index::load(dir.path()).size() == 300);
  std::size_t graphs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    graphs += entry.path().extension() == ".hnsw";
  }
  CHECK(graphs == 1);
}

TEST_CASE("a save interrupted before its manifest leaves the previous index loadable") {
  TempDirectory dir;
  small_index().save(dir.path());
  // What a crash between writing a new graph file and writing the manifest leaves.
  std::ofstream(dir.path() / "graph-999.hnsw") << "half-written";
  std::ofstream(dir.path() / ".manifest.json.tmp-1") << "{";
  CHECK(Index::load(dir.path()).size() == 800);
}

TEST_CASE("missing and damaged index files are reported, never loaded") {
  TempDirectory dir;
  CHECK_THROWS_WITH_AS(Index::load(dir.path() / "nope"), doctest::Contains("does not exist"), NotFound);
  CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("manifest.json"), NotFound);

  small_index().save(dir.path());
  auto graph = graph_file(dir.path());

  SUBCASE("flipped byte: checksum mismatch") {
    std::fstream file(graph, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(500);
    file.put('\x7f');
    file.close();
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("checksum"), CorruptFile);
  }
  SUBCASE("truncated graph file") {
    std::filesystem::resize_file(graph, std::filesystem::file_size(graph) / 2);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("truncated"), CorruptFile);
  }
  SUBCASE("graph file deleted") {
    std::filesystem::remove(graph);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("missing"), CorruptFile);
  }
  SUBCASE("manifest with a number beyond double") {
    // nlohmann throws out_of_range rather than parse_error for it.
    std::ofstream(dir.path() / "manifest.json") << "{\"format\": \"quiver-index\", \"seed\": 1e999}";
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("not valid JSON"), CorruptFile);
  }
  SUBCASE("manifest is not JSON") {
    std::ofstream(dir.path() / "manifest.json") << "{ not json";
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("not valid JSON"), CorruptFile);
  }
  SUBCASE("manifest lacks a field") {
    auto manifest = read_json(dir.path() / "manifest.json");
    manifest.erase("dim");
    write_json(dir.path() / "manifest.json", manifest);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("'dim'"), CorruptFile);
  }
  SUBCASE("manifest names a file outside the index") {
    auto manifest = read_json(dir.path() / "manifest.json");
    manifest["files"]["graph"]["name"] = "../../etc/passwd";
    write_json(dir.path() / "manifest.json", manifest);
    CHECK_THROWS_AS(Index::load(dir.path()), CorruptFile);
  }
  SUBCASE("manifest disagrees with the graph's size") {
    auto manifest = read_json(dir.path() / "manifest.json");
    manifest["elements"] = 801;
    write_json(dir.path() / "manifest.json", manifest);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("element count"), CorruptFile);
  }
  SUBCASE("a newer format version") {
    auto manifest = read_json(dir.path() / "manifest.json");
    manifest["format_version"] = index_format_version + 1;
    write_json(dir.path() / "manifest.json", manifest);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("upgrade quiver"), IncompatibleVersion);
  }
  SUBCASE("labels of the wrong type (found by fuzz_index_load)") {
    auto manifest = read_json(dir.path() / "manifest.json");
    manifest["quiver_version"] = 7;
    manifest["format_version"] = index_format_version + 1;
    write_json(dir.path() / "manifest.json", manifest);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("(unknown)"), IncompatibleVersion);
    manifest["format_version"] = index_format_version;
    write_json(dir.path() / "manifest.json", manifest);
    CHECK(Index::load(dir.path()).size() == 800);
    manifest["format"] = 1;
    write_json(dir.path() / "manifest.json", manifest);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("not a quiver index manifest"), CorruptFile);
  }
  SUBCASE("more keys inserted since learning than elements") {
    auto manifest = read_json(dir.path() / "manifest.json");
    manifest["inserted_since_learned"] = 801;
    write_json(dir.path() / "manifest.json", manifest);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("inserted since"), CorruptFile);
  }
}

TEST_CASE("crafted graph files with valid checksums are rejected by structure checks") {
  TempDirectory dir;
  small_index().save(dir.path());
  const std::size_t header = 96;

  SUBCASE("neighbour id out of range") {
    std::uint32_t bogus = 1u << 30;
    patch_graph(dir.path(), header + 4, &bogus, sizeof bogus);  // element 0, first base-layer link
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("out of range"), CorruptFile);
  }
  SUBCASE("neighbour count above the list's capacity") {
    std::uint32_t count = 1000;
    patch_graph(dir.path(), header, &count, sizeof count);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("slots"), CorruptFile);
  }
  SUBCASE("entry point out of range") {
    std::uint32_t entry = 5000;
    patch_graph(dir.path(), 52, &entry, sizeof entry);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("entry point"), CorruptFile);
  }
  SUBCASE("huge capacity claims never allocate") {
    std::size_t elements = std::size_t{1} << 40;
    patch_graph(dir.path(), 16, &elements, sizeof elements);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("element count"), CorruptFile);
  }
  SUBCASE("an element count whose base-layer size wraps to zero, in graph and manifest alike") {
    // hnsw8 over 12 floats: 124 bytes per element, and 2^62 * 124 = 31 * 2^64.
    std::size_t elements = std::size_t{1} << 62;
    patch_graph(dir.path(), 8, &elements, sizeof elements);  // capacity
    patch_graph(dir.path(), 16, &elements, sizeof elements);
    auto manifest = read_json(dir.path() / "manifest.json");
    manifest["elements"] = elements;
    write_json(dir.path() / "manifest.json", manifest);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("base layer"), CorruptFile);
  }
  SUBCASE("a level multiplier that would overflow the next add's level") {
    double mult = 1e300;
    patch_graph(dir.path(), 80, &mult, sizeof mult);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("level multiplier"), CorruptFile);
  }
}
