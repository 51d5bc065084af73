// ResourceLimits on an Index: batch size, live vector count and the memory budget are
// refused with ResourceExhausted before anything is inserted or loaded, with messages
// that give the numbers; work within the limits still succeeds.
#include <doctest/doctest.h>

#include <numeric>

#include "engine/temp_directory.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "support/ood_synthetic.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

TEST_CASE("an index without limits accepts any batch, and reports the limits it holds") {
  auto index = Index::create(IndexSpec::parse("hnsw8", Metric::L2, 8));
  CHECK(index.limits().max_vectors == 0);
  index.add({}, uniform_vectors(300, 8, 1));
  CHECK(index.size() == 300);
  index.set_limits({.max_vectors = 500, .max_batch = 100, .memory_budget_bytes = 0});
  CHECK(index.limits().max_vectors == 500);
  CHECK(index.limits().max_batch == 100);
}

TEST_CASE("max_batch refuses an oversized add, build or query batch and adds nothing") {
  ResourceLimits limits{.max_batch = 50};
  auto data = uniform_vectors(60, 8, 2);
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("hnsw8", Metric::L2, 8), data, {}, {}, limits),
                       doctest::Contains("60 rows exceeds ResourceLimits::max_batch = 50"), ResourceExhausted);

  auto index = Index::create(IndexSpec::parse("hnsw8", Metric::L2, 8), limits);
  CHECK_THROWS_AS(index.add(id_range(0, 60), data), ResourceExhausted);
  CHECK(index.size() == 0);
  index.add(id_range(0, 50), data.view().slice(0, 50));
  CHECK(index.size() == 50);
  CHECK_THROWS_AS(index.search_batch(data, {.k = 1, .ef = 8}), ResourceExhausted);
  CHECK(index.search_batch(data.view().slice(0, 50), {.k = 1, .ef = 8}).size() == 50);
}

TEST_CASE("max_vectors counts live vectors: replacements and tombstones do not use it up") {
  auto data = uniform_vectors(120, 8, 3);
  auto index = Index::create(IndexSpec::parse("hnsw8", Metric::L2, 8), {.max_vectors = 100});
  index.add(id_range(0, 100), data.view().slice(0, 100));
  std::uint64_t extra = 100;
  CHECK_THROWS_WITH_AS(index.add(std::span(&extra, 1), data.view().slice(100, 1)),
                       doctest::Contains("ResourceLimits::max_vectors = 100"), ResourceExhausted);
  CHECK(!index.contains(100));
  // Replacing an id already present adds no live vector.
  auto replaced = id_range(0, 10);
  index.add(replaced, data.view().slice(100, 10));
  CHECK(index.size() == 100);
  // A removal frees room; reviving a tombstoned id takes it again.
  index.remove(7);
  index.add(std::span(&extra, 1), data.view().slice(100, 1));
  CHECK(index.size() == 100);
  std::uint64_t revived = 7;
  CHECK_THROWS_AS(index.add(std::span(&revived, 1), data.view().slice(7, 1)), ResourceExhausted);
  CHECK(!index.contains(7));

  CHECK_THROWS_AS(Index::build(IndexSpec::parse("hnsw8", Metric::L2, 8), data, {}, {}, {.max_vectors = 100}),
                  ResourceExhausted);
}

TEST_CASE("the memory budget refuses growth past it, naming the numbers, and caps growth headroom") {
  auto spec = IndexSpec::parse("hnsw16", Metric::L2, 32);
  auto data = uniform_vectors(3000, 32, 4);
  // Measure what 1000 vectors cost in codes and links, then budget for 2000 of them: the
  // estimate also counts locks and id maps, so fewer fit, but not far fewer.
  auto probe = Index::build(spec, data.view().slice(0, 1000));
  std::size_t per_vector = probe.memory_bytes() / 1000;
  REQUIRE(per_vector >= 32 * sizeof(float));
  const std::size_t budget = 2000 * per_vector;

  auto index = Index::create(spec, {.memory_budget_bytes = budget});
  index.add(id_range(0, 1000), data.view().slice(0, 1000));
  // Growth stops at the budget instead of reserving 1.5x.
  CHECK(index.memory_bytes() <= budget);
  bool refused = false;
  std::size_t added = 1000;
  for (std::size_t first = 1000; first < 3000; first += 250) {
    try {
      index.add(id_range(first, 250), data.view().slice(first, 250));
      added += 250;
    } catch (const ResourceExhausted& error) {
      refused = true;
      std::string message = error.what();
      CHECK(message.find("memory_budget_bytes = " + std::to_string(budget)) != std::string::npos);
      CHECK(message.find("bytes (") != std::string::npos);
      break;
    }
  }
  CHECK(refused);
  CHECK(index.size() == added);  // the refused batch added nothing
  CHECK(added >= 1250);          // the estimate is not wildly pessimistic
  CHECK(index.memory_bytes() <= budget);
  // The index still works within its budget.
  auto hits = index.search(data.row(5), {.k = 1, .ef = 32});
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].id == 5);
  // Raising the budget lets the refused batch in.
  index.set_limits({.memory_budget_bytes = budget * 4});
  index.add(id_range(added, 250), data.view().slice(added, 250));
  CHECK(index.size() == added + 250);
}

TEST_CASE("a compressed encoding fits more vectors into the same budget") {
  auto data = uniform_vectors(3000, 128, 5);
  const std::size_t budget = 750000;
  auto fits = [&](const char* spec_text) {
    auto index = Index::build(IndexSpec::parse(spec_text, Metric::L2, 128), data.view().slice(0, 200));
    index.set_limits({.memory_budget_bytes = budget});
    std::size_t count = 200;
    try {
      for (; count < 3000; count += 100) index.add(id_range(count, 100), data.view().slice(count, 100));
    } catch (const ResourceExhausted&) {
    }
    return count;
  };
  std::size_t f32 = fits("hnsw8");
  std::size_t lvq8 = fits("hnsw8,lvq8");
  CHECK(f32 < 3000);
  CHECK(lvq8 > f32 * 3 / 2);
}

TEST_CASE("the budget counts the sample queries an attention graph keeps") {
  // 4,000 kept queries of 16 floats (256 KB) outweigh 500 keys' graph and codes.
  auto set = ood_synthetic(500, 4000, 1, 16, 12);
  const IndexSpec spec = IndexSpec::parse("attn8", Metric::InnerProduct, 16);
  BuildOptions options;
  options.sample_queries = set.train_queries;
  const std::size_t query_bytes = set.train_queries.values.size() * sizeof(float);
  auto probe = Index::build(spec, set.keys, {}, options);
  REQUIRE(probe.memory_bytes() > query_bytes);
  const std::size_t budget = probe.memory_bytes() - query_bytes / 2;
  const std::string kept = std::to_string(query_bytes) + " for the kept sample queries";
  CHECK_THROWS_WITH_AS(Index::build(spec, set.keys, {}, options, {.memory_budget_bytes = budget}),
                       doctest::Contains(kept.c_str()), ResourceExhausted);
  TempDirectory directory;
  probe.save(directory.path());
  CHECK_THROWS_WITH_AS(Index::load(directory.path(), {.memory_budget_bytes = budget}),
                       doctest::Contains("over ResourceLimits::memory_budget_bytes"), ResourceExhausted);
  CHECK(Index::load(directory.path(), {.memory_budget_bytes = 2 * probe.memory_bytes()}).size() == 500);
}

TEST_CASE("load refuses an index over the limits before reading its graph") {
  TempDirectory directory;
  auto data = uniform_vectors(500, 16, 6);
  auto index = Index::build(IndexSpec::parse("hnsw8", Metric::L2, 16), data);
  index.remove(3);
  index.save(directory.path());
  CHECK_THROWS_WITH_AS(Index::load(directory.path(), {.max_vectors = 400}),
                       doctest::Contains("499 vectors, over ResourceLimits::max_vectors = 400"), ResourceExhausted);
  CHECK_THROWS_WITH_AS(Index::load(directory.path(), {.memory_budget_bytes = 10000}),
                       doctest::Contains("over ResourceLimits::memory_budget_bytes = 10000"), ResourceExhausted);
  auto loaded = Index::load(directory.path(), {.max_vectors = 499});
  CHECK(loaded.size() == 499);
  CHECK(loaded.limits().max_vectors == 499);
  std::uint64_t extra = 1000;
  CHECK_THROWS_AS(loaded.add(std::span(&extra, 1), data.view().slice(0, 1)), ResourceExhausted);
}
