#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "../engine/temp_directory.h"
#include "quiver/error.h"
#include "quiver/relevance_filter.h"
#include "synthetic_relevance.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

const SyntheticRelevance& small_set() {
  static const SyntheticRelevance set = synthetic_relevance(200, 20, 6, 81);
  return set;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("save and load give identical relevance and keep the training record") {
  TempDirectory dir;
  const auto path = dir.path() / "filter.json";
  const auto& set = small_set();
  RelevanceOptions options = quick_relevance_options();
  options.map = RelevanceMap::Power;
  const RelevanceFilter trained = RelevanceFilter::train(set.set(), options);
  trained.save(path);
  CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  const RelevanceFilter loaded = RelevanceFilter::load(path);
  for (std::size_t q = 0; q < set.hits.size(); ++q) {
    CHECK(loaded.relevance(set.queries.row(q), set.hits[q], set.metric) ==
          trained.relevance(set.queries.row(q), set.hits[q], set.metric));
  }
  CHECK(loaded.metric() == Metric::InnerProduct);
  CHECK(loaded.dim() == 6);
  CHECK(loaded.training_k() == 20);
  CHECK(loaded.provenance() == "synthetic");
  CHECK(loaded.options().map == RelevanceMap::Power);
  CHECK(loaded.training_summary().best_epoch == trained.training_summary().best_epoch);
  CHECK(loaded.training_summary().fit_loss == trained.training_summary().fit_loss);

  // A copy is independent of the original and scores the same.
  RelevanceFilter copy = loaded;
  CHECK(copy.relevance(set.queries.row(0), set.hits[0], set.metric) ==
        trained.relevance(set.queries.row(0), set.hits[0], set.metric));
}

TEST_CASE("a PCA-reduced filter round-trips too") {
  TempDirectory dir;
  const auto path = dir.path() / "pca.json";
  const auto set = synthetic_relevance(200, 20, 40, 82);
  RelevanceOptions options = quick_relevance_options();
  options.pca_dims = 8;
  const RelevanceFilter trained = RelevanceFilter::train(set.set(), options);
  trained.save(path);
  const RelevanceFilter loaded = RelevanceFilter::load(path);
  CHECK(nlohmann::json::parse(read_text(path))["inputs"]["pca"]["dims"] == 8);
  for (std::size_t q = 0; q < 20; ++q) {
    CHECK(loaded.relevance(set.queries.row(q), set.hits[q], set.metric) ==
          trained.relevance(set.queries.row(q), set.hits[q], set.metric));
  }
}

TEST_CASE("damaged, foreign and newer files are rejected") {
  TempDirectory dir;
  const auto path = dir.path() / "filter.json";
  RelevanceFilter::train(small_set().set(), quick_relevance_options()).save(path);
  const std::string good = read_text(path);

  write_text(path, good.substr(0, good.size() / 2));
  CHECK_THROWS_WITH_AS(RelevanceFilter::load(path), doctest::Contains("is not valid JSON"), CorruptFile);

  // A number beyond double makes nlohmann throw out_of_range, not parse_error (found by
  // fuzz_relevance_filter): still a CorruptFile.
  std::string overflowing = good;
  overflowing.insert(1, "\"huge\": -3.4951465590051226e717, ");
  write_text(path, overflowing);
  CHECK_THROWS_WITH_AS(RelevanceFilter::load(path), doctest::Contains("is not valid JSON"), CorruptFile);

  auto document = nlohmann::json::parse(good);
  document["network"]["parameters"][3] = document["network"]["parameters"][3].get<double>() + 0.5;
  write_text(path, document.dump());
  CHECK_THROWS_WITH_AS(RelevanceFilter::load(path), doctest::Contains("fails its checksum"), CorruptFile);

  document = nlohmann::json::parse(good);
  document["format"] = "something-else";
  write_text(path, document.dump());
  CHECK_THROWS_WITH_AS(RelevanceFilter::load(path), doctest::Contains("not a quiver relevance filter"), CorruptFile);

  document = nlohmann::json::parse(good);
  document["version"] = 99;
  write_text(path, document.dump());
  CHECK_THROWS_WITH_AS(RelevanceFilter::load(path), doctest::Contains("format version 99"), IncompatibleVersion);

  // Integer fields stored as huge or fractional numbers (a cast would be undefined: found
  // by the fuzzer) or negative ones are refused by name.
  for (const double bad : {4.4e124, 2.5, -3.0}) {
    document = nlohmann::json::parse(good);
    document["version"] = bad;
    write_text(path, document.dump());
    CHECK_THROWS_WITH_AS(RelevanceFilter::load(path), doctest::Contains("\"version\""), CorruptFile);
  }

  // A consistent checksum over an inconsistent body: the shape check still catches it.
  document = nlohmann::json::parse(good);
  document["network"]["parameters"].erase(0);
  document.erase("checksum");
  write_text(path, document.dump());
  CHECK_THROWS_AS(RelevanceFilter::load(path), CorruptFile);

  CHECK_THROWS_AS(RelevanceFilter::load(dir.path() / "missing.json"), NotFound);
}

TEST_CASE("bad training sets are rejected with the culprit named") {
  const auto& base = small_set();
  SUBCASE("a label list whose length does not match the hits") {
    auto labels = base.labels;
    labels[5].pop_back();
    const RelevanceTrainingSet set{base.queries.view(), base.hits, labels, base.metric, ""};
    CHECK_THROWS_WITH_AS(RelevanceFilter::train(set, quick_relevance_options()),
                         doctest::Contains("query 5 has 20 hits but 19 labels"), InvalidArgument);
  }
  SUBCASE("fewer hit lists than query rows") {
    auto hits = base.hits;
    hits.pop_back();
    const RelevanceTrainingSet set{base.queries.view(), hits, base.labels, base.metric, ""};
    CHECK_THROWS_WITH_AS(RelevanceFilter::train(set, quick_relevance_options()), doctest::Contains("199 hit lists"),
                         InvalidArgument);
  }
  SUBCASE("every label the same class") {
    auto labels = base.labels;
    for (auto& row : labels) std::fill(row.begin(), row.end(), std::uint8_t{1});
    const RelevanceTrainingSet set{base.queries.view(), base.hits, labels, base.metric, ""};
    CHECK_THROWS_WITH_AS(RelevanceFilter::train(set, quick_relevance_options()),
                         doctest::Contains("a single-class training set cannot learn a threshold"), InvalidArgument);
  }
  SUBCASE("a label that is not 0 or 1") {
    auto labels = base.labels;
    labels[2][3] = 2;
    const RelevanceTrainingSet set{base.queries.view(), base.hits, labels, base.metric, ""};
    CHECK_THROWS_WITH_AS(RelevanceFilter::train(set, quick_relevance_options()), doctest::Contains("query 2, hit 3: label 2"),
                         InvalidArgument);
  }
  SUBCASE("NaN in a score or a query") {
    auto hits = base.hits;
    hits[7][1].score = std::numeric_limits<float>::quiet_NaN();
    const RelevanceTrainingSet bad_score{base.queries.view(), hits, base.labels, base.metric, ""};
    CHECK_THROWS_WITH_AS(RelevanceFilter::train(bad_score, quick_relevance_options()),
                         doctest::Contains("query 7, hit 1: score is NaN"), InvalidArgument);
    Matrix queries = base.queries;
    queries.row(4)[2] = std::numeric_limits<float>::quiet_NaN();
    const RelevanceTrainingSet bad_query{queries.view(), base.hits, base.labels, base.metric, ""};
    CHECK_THROWS_WITH_AS(RelevanceFilter::train(bad_query, quick_relevance_options()),
                         doctest::Contains("query 4, component 2 is NaN"), InvalidArgument);
  }
  SUBCASE("options that cannot train") {
    RelevanceOptions options = quick_relevance_options();
    options.use_query = false;
    options.use_score_features = false;
    CHECK_THROWS_WITH_AS(RelevanceFilter::train(base.set(), options), doctest::Contains("needs an input"),
                         InvalidArgument);
    options = quick_relevance_options();
    options.validation_fraction = 0.9;
    CHECK_THROWS_WITH_AS(RelevanceFilter::train(base.set(), options), doctest::Contains("validation_fraction"),
                         InvalidArgument);
  }
}

TEST_CASE("bad queries, hits and thresholds at inference") {
  const auto& set = small_set();
  const RelevanceFilter filter = RelevanceFilter::train(set.set(), quick_relevance_options());
  const auto query = set.queries.row(0);
  const auto& hits = set.hits[0];
  CHECK_THROWS_WITH_AS(filter.filter(query, hits, set.metric, 1.5f), doctest::Contains("outside [0, 1]"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(filter.filter(query, hits, set.metric, -0.1f), doctest::Contains("outside [0, 1]"),
                       InvalidArgument);
  CHECK_THROWS_AS(filter.filter(query, hits, set.metric, std::numeric_limits<float>::quiet_NaN()), InvalidArgument);
  CHECK_THROWS_WITH_AS(filter.relevance(query, hits, Metric::L2), doctest::Contains("trained on ip scores"),
                       InvalidArgument);
  const std::vector<float> short_query(5, 0.0f);
  CHECK_THROWS_WITH_AS(filter.relevance(short_query, hits, set.metric), doctest::Contains("expects 6"),
                       InvalidArgument);
  std::vector<float> nan_query(query.begin(), query.end());
  nan_query[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(filter.relevance(nan_query, hits, set.metric), doctest::Contains("component 3 is NaN"),
                       InvalidArgument);
  auto nan_hits = hits;
  nan_hits[2].score = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(filter.relevance(query, nan_hits, set.metric), doctest::Contains("hit 2"), InvalidArgument);
  CHECK(filter.relevance(query, {}, set.metric).empty());

  // filter() keeps exactly the hits at or above the threshold, in order.
  const auto r = filter.relevance(query, hits, set.metric);
  const auto kept = filter.filter(query, hits, set.metric, 0.5f);
  std::size_t expected = 0;
  for (const float v : r) expected += v >= 0.5f ? 1 : 0;
  CHECK(kept.size() == expected);
  for (std::size_t i = 0; i < kept.size(); ++i) CHECK(kept[i].id == hits[i].id);
  CHECK(filter.filter(query, hits, set.metric, 0.0f).size() == hits.size());
}

TEST_CASE("evaluation compares every method at the global threshold's recall") {
  const auto all = synthetic_relevance(900, 30, 8, 91);
  const auto train = slice(all, 0, 600);
  const auto test = slice(all, 600, 300);
  RelevanceOptions options = quick_relevance_options();
  options.hidden_units = 16;
  options.max_epochs = 100;
  const RelevanceFilter filter = RelevanceFilter::train(train.set(), options);
  const RelevanceReport report = evaluate_relevance(filter, train.set(), test.set());
  REQUIRE(report.methods.size() == 8);
  const std::vector<std::string> names{"adapter", "global_threshold", "top_k",    "relative_to_top",
                                       "z_score", "largest_gap",      "platt",    "isotonic"};
  for (std::size_t i = 0; i < names.size(); ++i) CHECK(report.methods[i].name == names[i]);
  CHECK(report.queries == 300);
  CHECK(report.pairs == 300 * 30);
  const auto& adapter = report.methods[0];
  const auto& global = report.methods[1];
  CHECK(global.recall == doctest::Approx(report.recall_target));
  // Tuned on the training queries, each method lands near the target on the test queries.
  for (const auto& method : report.methods) {
    CAPTURE(method.name);
    if (method.name != "largest_gap") CHECK(method.recall == doctest::Approx(report.recall_target).epsilon(0.05));
    CHECK(!method.parameter.empty());
  }
  CHECK(adapter.precision > global.precision + 0.1);
  CHECK(adapter.ece.has_value());
  CHECK_FALSE(global.ece.has_value());
  CHECK(report.methods[6].ece.has_value());
  CHECK(report.adapter_pr_auc > report.raw_pr_auc);
  CHECK(report.adapter_p_at_r95 > report.raw_p_at_r95);
  REQUIRE(report.matched_recall.size() == 6);
  for (const auto& point : report.matched_recall) {
    CAPTURE(point.recall);
    CHECK(point.adapter_precision >= point.raw_precision);
  }
  CHECK(report.matched_recall.back().adapter_precision == doctest::Approx(report.adapter_p_at_r95));
  CHECK(report.ece < 0.05);
  std::size_t binned = 0;
  for (const auto& bin : report.reliability) binned += bin.count;
  CHECK(binned == report.pairs);
}
