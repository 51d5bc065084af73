#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/manifest.h"
#include "engine/temp_directory.h"
#include "filters/synthetic_relevance.h"
#include "quiver/attribute_store.h"
#include "quiver/error.h"
#include "quiver/filtered_search.h"
#include "quiver/index.h"
#include "quiver/relevance_filter.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

constexpr std::size_t dim = 12;
constexpr std::size_t training_k = 20;

// Gaussian clusters close enough that a query's top list mixes its own class with its
// neighbours': relevance (sharing the query's cluster) is then neither all 0 nor all 1.
struct LabelledClusters {
  Matrix base, queries;
  std::vector<std::int32_t> base_classes, query_classes;
};

LabelledClusters labelled_clusters(std::size_t rows, std::size_t queries, std::uint64_t seed) {
  constexpr std::size_t clusters = 16;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<std::int32_t> pick(0, clusters - 1);
  Matrix centres(clusters, dim);
  for (float& v : centres.values) v = 0.7f * normal(rng);
  auto fill = [&](Matrix& out, std::vector<std::int32_t>& classes) {
    for (std::size_t i = 0; i < out.rows; ++i) {
      auto c = pick(rng);
      classes.push_back(c);
      auto centre = centres.row(static_cast<std::size_t>(c));
      auto row = out.row(i);
      for (std::size_t j = 0; j < dim; ++j) row[j] = centre[j] + normal(rng);
    }
  };
  LabelledClusters out{Matrix(rows, dim), Matrix(queries, dim), {}, {}};
  fill(out.base, out.base_classes);
  fill(out.queries, out.query_classes);
  return out;
}

// The base, 300 training queries and 40 held-out search queries.
const LabelledClusters& data() {
  static const LabelledClusters set = labelled_clusters(3000, 340, 91);
  return set;
}

MatrixView training_queries() { return data().queries.view().slice(0, 300); }
MatrixView search_queries() { return data().queries.view().slice(300, 40); }

RelevanceFilter train_filter(Metric metric) {
  const auto& d = data();
  auto set = label_by_class(d.base, d.base_classes, training_queries(),
                            std::span<const std::int32_t>(d.query_classes).first(300), training_k, metric, 1);
  return RelevanceFilter::train(set, quick_relevance_options());
}

const RelevanceFilter& cosine_filter() {
  static const RelevanceFilter filter = train_filter(Metric::Cosine);
  return filter;
}

const Index& plain_index() {
  static const Index index = Index::build(IndexSpec::parse("hnsw16", Metric::Cosine, dim), data().base);
  return index;
}

Index filtered_index() {
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::Cosine, dim), data().base);
  index.set_relevance_filter(cosine_filter());
  return index;
}

// The hits as the filter's caller would pass them: raw scores, no relevance.
std::vector<Hit> raw(std::vector<Hit> hits) {
  for (auto& hit : hits) hit.relevance = no_relevance;
  return hits;
}

void check_same(const std::vector<Hit>& a, const std::vector<Hit>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].id == b[i].id);
    CHECK(a[i].score == b[i].score);
    CHECK(a[i].relevance == b[i].relevance);
  }
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::filesystem::path filter_file(const std::filesystem::path& dir) {
  return dir / engine::Manifest::read(dir).files.at("relevance_filter").name;
}

// Replaces the filter file's contents and re-records its size and checksum in the
// manifest, as a crafted (not merely damaged) file would.
void replace_filter_file(const std::filesystem::path& dir, const std::string& text) {
  auto path = filter_file(dir);
  write_text(path, text);
  nlohmann::json manifest = nlohmann::json::parse(read_text(dir / "manifest.json"));
  auto described = engine::describe_file(path);
  manifest["files"]["relevance_filter"]["crc32"] = described.crc32;
  manifest["files"]["relevance_filter"]["bytes"] = described.bytes;
  write_text(dir / "manifest.json", manifest.dump(2));
}

}  // namespace

TEST_CASE("the training set mixes relevant and irrelevant hits") {
  const auto& summary = cosine_filter().training_summary();
  CHECK(summary.positive_rate > 0.2);
  CHECK(summary.positive_rate < 0.9);
  CHECK(cosine_filter().training_k() == training_k);
  CHECK(cosine_filter().dim() == dim);
}

TEST_CASE("without a filter hits carry no_relevance and nothing is attached") {
  const auto& index = plain_index();
  CHECK(index.relevance_filter() == nullptr);
  auto hits = index.search(search_queries().row(0), {.k = 10, .ef = 64});
  REQUIRE(hits.size() == 10);
  for (const auto& hit : hits) CHECK(hit.relevance == no_relevance);
}

TEST_CASE("hits carry the relevance the filter gives the index's top training_k list") {
  auto index = filtered_index();
  REQUIRE(index.relevance_filter() != nullptr);
  CHECK(index.relevance_filter()->training_k() == training_k);
  const auto& filter = cosine_filter();
  auto queries = search_queries();
  bool some_low = false, some_high = false;
  for (std::size_t q = 0; q < queries.rows; ++q) {
    auto query = queries.row(q);
    auto full = index.search(query, {.k = training_k, .ef = 64});
    REQUIRE(full.size() == training_k);
    auto expected = filter.relevance(query, raw(full), Metric::Cosine);
    for (std::size_t i = 0; i < full.size(); ++i) {
      CHECK(full[i].relevance == expected[i]);
      CHECK(full[i].relevance >= 0.0f);
      CHECK(full[i].relevance <= 1.0f);
      if (i > 0) CHECK(full[i].relevance <= full[i - 1].relevance);  // monotone in the score
      some_low = some_low || full[i].relevance < 0.5f;
      some_high = some_high || full[i].relevance >= 0.5f;
    }
    // The same list as the plain index returns: scoring changes no ranking.
    auto plain = plain_index().search(query, {.k = training_k, .ef = 64});
    for (std::size_t i = 0; i < full.size(); ++i) CHECK(full[i].id == plain[i].id);

    // Fewer hits asked for: still scored on the full top list, then cut to k.
    auto top5 = index.search(query, {.k = 5, .ef = 64});
    check_same(top5, std::vector<Hit>(full.begin(), full.begin() + 5));
    // ef below training_k is raised to it for the walk.
    auto narrow = index.search(query, {.k = 5, .ef = 5});
    auto at_training_k = index.search(query, {.k = training_k, .ef = training_k});
    check_same(narrow, std::vector<Hit>(at_training_k.begin(), at_training_k.begin() + 5));
  }
  CHECK(some_low);
  CHECK(some_high);

  // search_batch scores each query the same way.
  auto batch = index.search_batch(queries, {.k = 7, .ef = 64}, 2);
  REQUIRE(batch.size() == queries.rows);
  for (std::size_t q = 0; q < queries.rows; ++q) check_same(batch[q], index.search(queries.row(q), {.k = 7, .ef = 64}));
}

TEST_CASE("min_relevance drops exactly the hits below it and keeps their order") {
  auto index = filtered_index();
  auto queries = search_queries();
  std::vector<std::vector<Hit>> all;
  std::vector<float> relevances;
  for (std::size_t q = 0; q < queries.rows; ++q) {
    all.push_back(index.search(queries.row(q), {.k = training_k, .ef = 64}));
    for (const auto& hit : all.back()) relevances.push_back(hit.relevance);
  }
  std::sort(relevances.begin(), relevances.end());
  for (float threshold : {relevances[relevances.size() / 4], relevances[relevances.size() / 2], 0.5f}) {
    CAPTURE(threshold);
    std::size_t kept = 0, dropped = 0;
    for (std::size_t q = 0; q < queries.rows; ++q) {
      auto cut = index.search(queries.row(q), {.k = training_k, .ef = 64, .min_relevance = threshold});
      std::vector<Hit> expected;
      std::copy_if(all[q].begin(), all[q].end(), std::back_inserter(expected),
                   [&](const Hit& hit) { return hit.relevance >= threshold; });
      check_same(cut, expected);
      kept += cut.size();
      dropped += all[q].size() - cut.size();
    }
    CHECK(kept > 0);
    CHECK(dropped > 0);
  }
  // The cut applies after the first k: it never pulls in hits beyond k.
  float median = relevances[relevances.size() / 2];
  for (std::size_t q = 0; q < queries.rows; ++q) {
    auto cut = index.search(queries.row(q), {.k = 6, .ef = 64, .min_relevance = median});
    std::vector<Hit> expected;
    std::copy_if(all[q].begin(), all[q].begin() + 6, std::back_inserter(expected),
                 [&](const Hit& hit) { return hit.relevance >= median; });
    check_same(cut, expected);
  }
  // 0 keeps everything; 1 keeps only certainties.
  auto everything = index.search(queries.row(0), {.k = training_k, .ef = 64, .min_relevance = 0.0f});
  check_same(everything, all[0]);
  auto certain = index.search(queries.row(0), {.k = training_k, .ef = 64, .min_relevance = 1.0f});
  for (const auto& hit : certain) CHECK(hit.relevance == 1.0f);
}

TEST_CASE("filtered search's exact path scores relevance on the allowed ids' top list and cuts by it") {
  auto index = filtered_index();
  auto store = AttributeStore::in_memory();
  std::vector<std::uint64_t> allowed;
  for (std::uint64_t id = 0; id < data().base.rows; ++id) {
    store.set(id, "even_tenth", static_cast<std::int64_t>(id % 10 == 0 ? 1 : 0));
    if (id % 10 == 0) allowed.push_back(id);
  }
  auto queries = search_queries();
  std::size_t kept = 0, dropped = 0;
  for (std::size_t q = 0; q < queries.rows; ++q) {
    auto query = queries.row(q);
    auto top = index.search_ids(query, allowed, training_k);
    auto probabilities = cosine_filter().relevance(query, top, Metric::Cosine);
    for (std::size_t i = 0; i < top.size(); ++i) top[i].relevance = probabilities[i];

    auto result = filtered_search(index, store, query, "even_tenth = 1", {.k = 5, .ef = 64});
    REQUIRE(result.strategy == FilterStrategy::Exact);
    check_same(result.hits, std::vector<Hit>(top.begin(), top.begin() + 5));

    auto cut = filtered_search(index, store, query, "even_tenth = 1", {.k = 5, .ef = 64, .min_relevance = 0.5f});
    std::vector<Hit> expected;
    std::copy_if(top.begin(), top.begin() + 5, std::back_inserter(expected),
                 [](const Hit& hit) { return hit.relevance >= 0.5f; });
    check_same(cut.hits, expected);
    kept += cut.hits.size();
    dropped += 5 - cut.hits.size();
  }
  CHECK(kept > 0);
  CHECK(dropped > 0);

  // Without a filter attached, min_relevance above 0 is refused on this path too.
  index.clear_relevance_filter();
  CHECK_THROWS_AS(filtered_search(index, store, queries.row(0), "even_tenth = 1", {.k = 5, .min_relevance = 0.5f}),
                  InvalidArgument);
  CHECK_THROWS_AS(filtered_search(index, store, queries.row(0), "even_tenth = 1", {.k = 5, .min_relevance = 2.0f}),
                  InvalidArgument);
}

TEST_CASE("clearing the filter restores plain results") {
  auto index = filtered_index();
  auto query = search_queries().row(3);
  auto with = index.search(query, {.k = 10, .ef = 64});
  index.clear_relevance_filter();
  CHECK(index.relevance_filter() == nullptr);
  auto without = index.search(query, {.k = 10, .ef = 64});
  REQUIRE(without.size() == with.size());
  for (std::size_t i = 0; i < without.size(); ++i) {
    CHECK(without[i].id == with[i].id);
    CHECK(without[i].score == with[i].score);
    CHECK(without[i].relevance == no_relevance);
  }
  CHECK_THROWS_AS(index.search(query, {.k = 10, .ef = 64, .min_relevance = 0.5f}), InvalidArgument);
}

TEST_CASE("an index smaller than training_k scores the hits it has") {
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::Cosine, dim), data().base.view().slice(0, 8));
  index.set_relevance_filter(cosine_filter());
  auto query = search_queries().row(0);
  auto all = index.search(query, {.k = 8, .ef = 8});
  REQUIRE(all.size() == 8);
  auto expected = cosine_filter().relevance(query, raw(all), Metric::Cosine);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i].relevance == expected[i]);
  check_same(index.search(query, {.k = 3, .ef = 8}), std::vector<Hit>(all.begin(), all.begin() + 3));
}

TEST_CASE("bad min_relevance and mismatched filters are rejected") {
  auto index = filtered_index();
  auto query = search_queries().row(0);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -0.1f, 1.5f}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(index.search(query, {.k = 5, .ef = 64, .min_relevance = bad}),
                         doctest::Contains("outside [0, 1]"), InvalidArgument);
    CHECK_THROWS_WITH_AS(plain_index().search(query, {.k = 5, .ef = 64, .min_relevance = bad}),
                         doctest::Contains("min_relevance"), InvalidArgument);
  }
  CHECK_THROWS_WITH_AS(plain_index().search(query, {.k = 5, .ef = 64, .min_relevance = 0.5f}),
                       doctest::Contains("set_relevance_filter"), InvalidArgument);
  CHECK_THROWS_WITH_AS(plain_index().search_batch(search_queries(), {.k = 5, .ef = 64, .min_relevance = 0.5f}),
                       doctest::Contains("needs a relevance filter"), InvalidArgument);

  // A filter for 6-dimensional inner-product scores.
  const auto synthetic = synthetic_relevance(120, 10, 6, 5);
  auto six = RelevanceFilter::train(synthetic.set(), quick_relevance_options());
  CHECK_THROWS_WITH_AS(index.set_relevance_filter(six), doctest::Contains("expects 6-dimensional"), InvalidArgument);
  CHECK_THROWS_WITH_AS(index.set_relevance_filter(six), doctest::Contains("has 12 dimensions"), InvalidArgument);
  // Right dimension, wrong metric.
  auto l2 = train_filter(Metric::L2);
  CHECK_THROWS_WITH_AS(index.set_relevance_filter(l2), doctest::Contains("trained on l2 scores"), InvalidArgument);
  CHECK_THROWS_WITH_AS(index.set_relevance_filter(l2), doctest::Contains("index uses cosine"), InvalidArgument);
  // A rejected filter leaves the attached one in place.
  REQUIRE(index.relevance_filter() != nullptr);
  CHECK(index.relevance_filter()->metric() == Metric::Cosine);
}

TEST_CASE("save and load keep the filter, and a save without one drops its file") {
  TempDirectory dir;
  auto index = filtered_index();
  index.save(dir.path());
  auto path = filter_file(dir.path());
  CHECK(path.filename().string().starts_with("relevance-"));
  CHECK(std::filesystem::exists(path));

  auto loaded = Index::load(dir.path());
  REQUIRE(loaded.relevance_filter() != nullptr);
  CHECK(loaded.relevance_filter()->training_k() == training_k);
  CHECK(loaded.relevance_filter()->provenance() == cosine_filter().provenance());
  auto queries = search_queries();
  for (std::size_t q = 0; q < queries.rows; ++q) {
    check_same(loaded.search(queries.row(q), {.k = 10, .ef = 64}), index.search(queries.row(q), {.k = 10, .ef = 64}));
  }

  // Saved again without the filter: the load has none and the old file is gone.
  loaded.clear_relevance_filter();
  loaded.save(dir.path());
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK_FALSE(engine::Manifest::read(dir.path()).files.contains("relevance_filter"));
  auto reloaded = Index::load(dir.path());
  CHECK(reloaded.relevance_filter() == nullptr);
  for (const auto& hit : reloaded.search(queries.row(0), {.k = 5, .ef = 64})) CHECK(hit.relevance == no_relevance);
}

TEST_CASE("an empty index keeps its filter across save and load") {
  TempDirectory dir;
  auto index = Index::create(IndexSpec::parse("hnsw16", Metric::Cosine, dim));
  index.set_relevance_filter(cosine_filter());
  index.save(dir.path());
  auto loaded = Index::load(dir.path());
  REQUIRE(loaded.relevance_filter() != nullptr);
  loaded.add({}, data().base);
  auto query = search_queries().row(1);
  auto hits = loaded.search(query, {.k = training_k, .ef = 64});
  auto expected = cosine_filter().relevance(query, raw(hits), Metric::Cosine);
  for (std::size_t i = 0; i < hits.size(); ++i) CHECK(hits[i].relevance == expected[i]);
}

TEST_CASE("a damaged or foreign filter file is rejected on load, naming the file") {
  TempDirectory dir;
  filtered_index().save(dir.path());
  auto path = filter_file(dir.path());
  auto name = path.filename().string();
  const std::string original = read_text(path);

  SUBCASE("a flipped byte fails the manifest checksum") {
    std::string damaged = original;
    damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x20);
    write_text(path, damaged);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains(name.c_str()), CorruptFile);
  }
  SUBCASE("a truncated file fails the manifest size") {
    write_text(path, original.substr(0, original.size() / 2));
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains(name.c_str()), CorruptFile);
  }
  SUBCASE("a missing file") {
    std::filesystem::remove(path);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains(name.c_str()), CorruptFile);
  }
  SUBCASE("crafted contents with a matching manifest entry fail the filter's own checks") {
    replace_filter_file(dir.path(), "{\"format\": \"something else\"}\n");
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains(name.c_str()), CorruptFile);
  }
  SUBCASE("an edited filter fails the filter's checksum") {
    auto document = nlohmann::json::parse(original);
    document["training_k"] = 7;
    replace_filter_file(dir.path(), document.dump());
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains(name.c_str()), CorruptFile);
  }
  SUBCASE("a valid filter for other vectors") {
    TempDirectory other;
    auto six = RelevanceFilter::train(synthetic_relevance(120, 10, 6, 5).set(), quick_relevance_options());
    six.save(other.path() / "six.json");
    replace_filter_file(dir.path(), read_text(other.path() / "six.json"));
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains(name.c_str()), CorruptFile);
    CHECK_THROWS_WITH_AS(Index::load(dir.path()), doctest::Contains("6 dimensions"), CorruptFile);
  }
}
