#include <doctest/doctest.h>

#include <atomic>
#include <numeric>
#include <thread>

#include "engine/exact_neighbours.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

TEST_CASE("an empty index grows through add, beyond its first capacity") {
  auto data = clustered_vectors(5000, 16, 51);
  auto index = Index::create(IndexSpec::parse("hnsw16", Metric::L2, 16));
  CHECK(index.size() == 0);
  CHECK(index.memory_bytes() == 0);
  auto ids = id_range(1000, 5000);
  index.add(std::span(ids).first(100), data.view().slice(0, 100));
  index.add(std::span(ids).subspan(100), data.view().slice(100, 4900));
  CHECK(index.size() == 5000);
  CHECK(index.memory_bytes() >= 5000 * 16 * sizeof(float));
  auto queries = clustered_vectors(50, 16, 52);
  auto found = index.search_batch(queries, {.k = 10, .ef = 64});
  auto truth = exact_neighbours(data, queries, 10, Metric::L2);
  for (auto& row : truth) {
    for (auto& id : row) id += 1000;
  }
  CHECK(recall(found, truth) >= 0.95);
}

TEST_CASE("adding an existing id replaces its vector") {
  auto data = clustered_vectors(1000, 8, 61);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 8), data);
  Matrix moved(1, 8);
  for (auto& v : moved.values) v = 100.0f;
  std::uint64_t id = 17;
  index.add(std::span(&id, 1), moved);
  CHECK(index.size() == 1000);
  auto hits = index.search(moved.row(0), {.k = 1, .ef = 32});
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].id == 17);
  CHECK(hits[0].score == doctest::Approx(0.0f));
}

TEST_CASE("removed ids are never returned; compact drops the tombstones") {
  auto data = clustered_vectors(2000, 16, 71);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 16), data);
  for (std::uint64_t id = 0; id < 2000; id += 3) index.remove(id);
  CHECK(index.deleted_count() == 667);
  CHECK(index.size() == 2000 - 667);
  CHECK_FALSE(index.contains(3));
  CHECK(index.contains(4));
  CHECK_THROWS_WITH_AS(index.remove(3), doctest::Contains("id 3"), NotFound);

  auto check_no_removed = [&](const Index& idx) {
    for (std::size_t q = 0; q < 100; ++q) {
      auto hits = idx.search(data.row(q), {.k = 10, .ef = 64});
      CHECK(hits.size() == 10);
      for (const auto& hit : hits) CHECK(hit.id % 3 != 0);
      if (q % 3 != 0) CHECK(hits[0].id == q);  // a live vector finds itself
    }
  };
  check_no_removed(index);
  auto before = index.memory_bytes();
  index.compact();
  CHECK(index.deleted_count() == 0);
  CHECK(index.size() == 2000 - 667);
  CHECK(index.memory_bytes() < before);
  check_no_removed(index);
  CHECK_THROWS_AS(index.remove(0), NotFound);
}

TEST_CASE("compact lets searches and removes run while it rebuilds, and keeps those removes") {
  auto data = clustered_vectors(3000, 16, 73);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 16), data);
  for (std::uint64_t id = 0; id < 3000; id += 2) index.remove(id);
  // The progress callback runs on compact's thread between chunks of the rebuild: a
  // search and a remove issued there would deadlock if compact held the index's lock.
  std::size_t calls = 0;
  BuildOptions options;
  options.threads = 2;
  options.progress = [&](const Progress&) {
    if (calls++ == 0) {
      CHECK(index.search(data.row(1), {.k = 1, .ef = 32})[0].id == 1);
      index.remove(1);
      index.remove(2999);
    }
    return true;
  };
  index.compact(options);
  CHECK(calls >= 1);
  CHECK(index.size() == 1500 - 2);
  CHECK(index.deleted_count() == 2);  // carried into the new graph as tombstones
  CHECK_FALSE(index.contains(1));
  CHECK_FALSE(index.contains(2999));
  CHECK(index.contains(3));
  for (std::size_t q : {1, 2999}) {
    for (const auto& hit : index.search(data.row(q), {.k = 10, .ef = 64})) CHECK(hit.id % 2 == 1);
    for (const auto& hit : index.search(data.row(q), {.k = 10, .ef = 64})) CHECK(hit.id != q);
  }
  // A cancelled compaction leaves the index as it was.
  options.progress = [](const Progress&) { return false; };
  CHECK_THROWS_AS(index.compact(options), Cancelled);
  CHECK(index.deleted_count() == 2);
  CHECK(index.search(data.row(3), {.k = 1, .ef = 32})[0].id == 3);
}

TEST_CASE("a removed id can be added again") {
  auto data = clustered_vectors(500, 8, 81);
  auto index = Index::build(IndexSpec::parse("hnsw8", Metric::L2, 8), data);
  index.remove(5);
  std::uint64_t id = 5;
  index.add(std::span(&id, 1), data.view().slice(5, 1));
  CHECK(index.contains(5));
  CHECK(index.deleted_count() == 0);
  CHECK(index.search(data.row(5), {.k = 1, .ef = 16})[0].id == 5);
}

TEST_CASE("build reports progress and can be cancelled") {
  auto data = clustered_vectors(6000, 8, 91);
  std::size_t calls = 0, last = 0;
  BuildOptions options;
  options.progress = [&](const Progress& p) {
    ++calls;
    CHECK(p.total == 6000);
    CHECK(p.done >= last);
    last = p.done;
    return true;
  };
  auto index = Index::build(IndexSpec::parse("hnsw8", Metric::L2, 8), data, {}, options);
  CHECK(calls >= 2);
  CHECK(last == 6000);

  options.progress = [](const Progress& p) { return p.done < 2000; };
  CHECK_THROWS_AS(Index::build(IndexSpec::parse("hnsw8", Metric::L2, 8), data, {}, options), Cancelled);
}

TEST_CASE("searches run while another thread adds and removes") {
  auto data = clustered_vectors(6000, 16, 101);
  auto index = Index::build(IndexSpec::parse("hnsw16", Metric::L2, 16), data.view().slice(0, 2000));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  BuildOptions one_thread;
  one_thread.threads = 1;
  std::thread writer([&] {
    auto ids = id_range(2000, 4000);
    for (std::size_t first = 0; first < 4000; first += 500) {
      index.add(std::span(ids).subspan(first, 500), data.view().slice(2000 + first, 500), one_thread);
      index.remove(first / 500);  // ids 0..7
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::size_t q = r;
      while (!done) {
        auto hits = index.search(data.row(1000 + q % 1000), {.k = 10, .ef = 32});
        if (hits.size() != 10) ++bad;
        for (const auto& hit : hits) {
          if (hit.id >= 6000) ++bad;
        }
        q += 2;
      }
    });
  }
  writer.join();
  for (auto& reader : readers) reader.join();
  CHECK(bad == 0);
  CHECK(index.size() == 6000 - 8);
  for (std::uint64_t id = 0; id < 8; ++id) CHECK_FALSE(index.contains(id));
}
