// Durable collections over an attention graph: created with sample queries, grown by
// upserts, learned again at checkpoints, and the same after reopening or recovery.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <numeric>
#include <vector>

#include "engine/temp_directory.h"
#include "quiver/collection.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "support/ood_synthetic.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

// 2,000 learning queries: the default 20,000 would slow every build under the sanitizers.
const IndexSpec spec = IndexSpec::parse("attn8,lq2000", Metric::InnerProduct, 16);

CollectionOptions one_thread_manual_checkpoints() {
  CollectionOptions options;
  options.checkpoint_every = 0;
  options.threads = 1;
  return options;
}

void upsert_rows(Collection& collection, MatrixView rows, std::uint64_t first_id) {
  std::vector<UpsertItem> batch;
  for (std::size_t i = 0; i < rows.rows; ++i) {
    auto row = rows.row(i);
    batch.push_back({first_id + i, std::vector<float>(row.begin(), row.end()), {}});
    if (batch.size() == 250 || i + 1 == rows.rows) {
      collection.upsert(batch);
      batch.clear();
    }
  }
}

// The collection's hits are those of `reference` for every evaluation query.
void check_same_hits(const Collection& collection, const Index& reference, const OodSet& set) {
  for (std::size_t q = 0; q < set.eval_queries.rows; ++q) {
    auto query = set.eval_queries.row(q);
    auto expected = reference.search(query, {.k = 10, .ef = 40});
    CollectionSearchRequest request;
    request.vector.assign(query.begin(), query.end());
    request.k = 10;
    request.ef = 40;
    auto found = collection.search(request);
    REQUIRE(found.size() == expected.size());
    for (std::size_t i = 0; i < found.size(); ++i) CHECK(found[i].hit.id == expected[i].id);
  }
}

}  // namespace

TEST_CASE("an attention-graph collection learns its graph at checkpoints and keeps it across reopening and recovery") {
  TempDirectory temp;
  const auto path = temp.path() / "kv";
  auto set = ood_synthetic(2000, 400, 20, 16, 23);
  const auto options = one_thread_manual_checkpoints();
  std::vector<std::uint64_t> ids(set.keys.rows);
  std::iota(ids.begin(), ids.end(), std::uint64_t{0});
  BuildOptions learn;
  learn.threads = 1;
  learn.sample_queries = set.train_queries;
  const auto fresh = Index::build(spec, set.keys, ids, learn);

  {
    auto collection = Collection::create(path, "kv", spec, options, set.train_queries);
    CHECK(std::filesystem::is_regular_file(path / "sample_queries.fbin"));
    upsert_rows(collection, set.keys, 0);
    CHECK(collection.stats().inserted_since_learned == set.keys.rows);
    collection.checkpoint();  // every key was linked by insertion: the graph is learned
    CHECK(collection.stats().inserted_since_learned == 0);
    check_same_hits(collection, fresh, set);
  }
  {
    auto reopened = Collection::open(path, options);
    CHECK(reopened.stats().index_recovery.empty());
    check_same_hits(reopened, fresh, set);
    // Fewer new keys than relearn_inserted_fraction: linked by insertion, kept so.
    upsert_rows(reopened, set.eval_queries.view().slice(0, 10), 100000);
    reopened.checkpoint();
    CHECK(reopened.stats().inserted_since_learned == 10);
    CHECK(reopened.stats().size == set.keys.rows + 10);
  }
  {
    auto reopened = Collection::open(path, options);
    CHECK(reopened.stats().inserted_since_learned == 10);
    std::vector<std::uint64_t> extra(10);
    std::iota(extra.begin(), extra.end(), std::uint64_t{100000});
    CHECK(reopened.remove(extra) == 10);
    reopened.compact();
    CHECK(reopened.stats().inserted_since_learned == 0);
    check_same_hits(reopened, fresh, set);
    reopened.checkpoint();
  }
  // A lost checkpoint: rebuilt from the stored keys and learned from the stored queries.
  std::filesystem::remove_all(path / "index");
  {
    auto recovered = Collection::open(path, options);
    CHECK_FALSE(recovered.stats().index_recovery.empty());
    CHECK(recovered.stats().inserted_since_learned == 0);
    check_same_hits(recovered, fresh, set);
  }
  // Without its sample queries, a collection whose checkpoint is gone cannot be rebuilt.
  std::filesystem::remove_all(path / "index");
  std::filesystem::remove(path / "sample_queries.fbin");
  CHECK_THROWS_WITH_AS(Collection::open(path, options), doctest::Contains("sample_queries.fbin"), CorruptFile);
}

TEST_CASE("attention-graph collections are created with sample queries, other specs without") {
  TempDirectory temp;
  auto set = ood_synthetic(100, 150, 5, 16, 4);
  CHECK_THROWS_WITH_AS(Collection::create(temp.path() / "a", "a", spec), doctest::Contains("sample queries"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(
      Collection::create(temp.path() / "b", "b", IndexSpec::parse("hnsw8", Metric::InnerProduct, 16), {}, set.train_queries),
      doctest::Contains("only attention graphs"), InvalidArgument);
  CHECK_THROWS_AS(Collection::create(temp.path() / "c", "c", spec, {}, set.train_queries.view().slice(0, 20)),
                  InvalidArgument);
  for (const char* name : {"a", "b", "c"}) CHECK_FALSE(std::filesystem::exists(temp.path() / name));
  CollectionOptions bad;
  bad.relearn_inserted_fraction = 1.5;
  CHECK_THROWS_WITH_AS(Collection::create(temp.path() / "d", "d", spec, bad, set.train_queries),
                       doctest::Contains("relearn_inserted_fraction"), InvalidArgument);
}
