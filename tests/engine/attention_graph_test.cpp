#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "engine/attention_graph.h"
#include "engine/exact_neighbours.h"
#include "engine/temp_directory.h"
#include "quiver/error.h"
#include "quiver/exact_search.h"
#include "quiver/index.h"
#include "quiver/vector_io.h"
#include "support/ood_synthetic.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

struct Measured {
  double recall;
  double distances_per_query;
};

Measured measure(const Index& index, const OodSet& set, const std::vector<std::vector<std::uint64_t>>& truth,
                 std::size_t ef) {
  SearchStats stats;
  auto found = index.search_batch(set.eval_queries, {.k = 10, .ef = ef}, 0, &stats);
  return {recall(found, truth), double(stats.distances) / double(stats.queries)};
}

// Tests of the graph's mechanics on a few thousand keys learn from 2,000 queries (the
// given ones topped up): the default of 20,000 would make each build under the
// sanitizers take tens of seconds, to no more effect on what they check.
constexpr const char* small_learning = ",lq2000";

// An inner-product index of `set`'s keys, built with its sample queries.
Index build_with_sample_queries(const OodSet& set, const std::string& spec) {
  BuildOptions options;
  options.sample_queries = set.train_queries;
  return Index::build(IndexSpec::parse(spec, Metric::InnerProduct, set.keys.cols), set.keys, {}, options);
}

// 20,000 real attention keys with 4,000 prefill sample queries, 200 decode queries and
// their exact top 10: what the tests of keys added after learning grow and compare.
struct RealKeys {
  Matrix keys;
  Matrix train_queries;
  Matrix eval_queries;
  std::vector<std::vector<std::uint64_t>> truth;
};

RealKeys real_keys() {
  const std::string dir = std::string(QUIVER_SHARED_DATA_DIR) + "/attn-pylm-l3h0/";
  RealKeys set{read_vectors(dir + "keys.fbin", 20000), read_vectors(dir + "queries_train.fbin", 4000),
               read_vectors(dir + "queries_eval.fbin", 200), {}};
  set.truth = exact_neighbours(set.keys, set.eval_queries, 10, Metric::InnerProduct);
  return set;
}

// Adds rows [first, keys.rows) of `keys` in batches of `batch`, ids = row numbers.
void add_in_batches(Index& index, const Matrix& keys, std::size_t first, std::size_t batch,
                    const BuildOptions& options = {}) {
  for (; first < keys.rows; first += batch) {
    std::vector<std::uint64_t> ids(std::min(batch, keys.rows - first));
    std::iota(ids.begin(), ids.end(), first);
    index.add(ids, keys.view().slice(first, ids.size()), options);
  }
}

}  // namespace

TEST_CASE("the attention graph serves out-of-distribution queries with less work than HNSW" * doctest::test_suite("quality")) {
  auto set = ood_synthetic(20000, 3000, 200, 48);
  auto truth = exact_neighbours(set.keys, set.eval_queries, 10, Metric::InnerProduct);
  auto attention = build_with_sample_queries(set, "attn16,efc100");
  auto hnsw = build_with_sample_queries(set, "hnsw16,efc100");
  double work_at_target = 0;  // keys scored at the first window reaching recall 0.9
  for (std::size_t ef : {32, 64, 128}) {
    auto a = measure(attention, set, truth, ef);
    auto h = measure(hnsw, set, truth, ef);
    MESSAGE("ef ", ef, ": attention recall ", a.recall, " at ", a.distances_per_query, " distances; hnsw recall ",
            h.recall, " at ", h.distances_per_query);
    CHECK(a.recall > h.recall + 0.2);
    if (a.recall >= 0.9 && work_at_target == 0) work_at_target = a.distances_per_query;
  }
  CHECK(work_at_target > 0);
  CHECK(work_at_target < 0.05 * 20000);  // a few percent of the keys
}

TEST_CASE("attention indexes save, load and take later additions") {
  TempDirectory dir;
  auto set = ood_synthetic(3000, 500, 20, 16, 7);
  BuildOptions options;
  options.sample_queries = set.train_queries;
  for (auto metric : {Metric::InnerProduct, Metric::Cosine, Metric::L2}) {
    auto index = Index::build(IndexSpec::parse(std::string("attn8,lvq8") + small_learning, metric, 16), set.keys, {},
                              options);
    index.save(dir.path());
    auto loaded = Index::load(dir.path());
    CHECK(loaded.spec().graph == GraphKind::Attention);
    CHECK(loaded.spec().to_string() == "attn8,efc200,lq2000,lvq8");
    for (std::size_t q = 0; q < set.eval_queries.rows; ++q) {
      auto a = index.search(set.eval_queries.row(q), {.k = 5, .ef = 32});
      auto b = loaded.search(set.eval_queries.row(q), {.k = 5, .ef = 32});
      REQUIRE(a.size() == b.size());
      for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].id == b[i].id);
    }
    std::uint64_t id = 999999;
    loaded.add(std::span(&id, 1), set.eval_queries.view().slice(0, 1));
    CHECK(loaded.contains(id));
    CHECK(loaded.size() == 3001);
    // Saved with its addition (hnswlib then records the one-layer level multiplier 0).
    loaded.save(dir.path());
    CHECK(Index::load(dir.path()).contains(id));
  }
}

TEST_CASE("compact learns the attention graph again from the sample queries the index keeps") {
  TempDirectory dir;
  auto set = ood_synthetic(2000, 400, 30, 16, 21);
  BuildOptions options;
  options.threads = 1;
  options.sample_queries = set.train_queries;
  const auto spec = IndexSpec::parse(std::string("attn8") + small_learning, Metric::InnerProduct, 16);
  // Every fifth key removed, then compacted: the graph must be the one a fresh build on
  // the remaining keys learns, walk for walk, also after a save and load.
  std::vector<std::uint64_t> kept_ids;
  Matrix kept_keys(set.keys.rows - set.keys.rows / 5, set.keys.cols);
  for (std::size_t i = 0; i < set.keys.rows; ++i) {
    if (i % 5 == 0) continue;
    std::copy_n(set.keys.row(i).data(), set.keys.cols, kept_keys.row(kept_ids.size()).data());
    kept_ids.push_back(i);
  }
  auto fresh = Index::build(spec, kept_keys, kept_ids, options);

  auto index = Index::build(spec, set.keys, {}, options);
  index.save(dir.path());
  auto loaded = Index::load(dir.path());
  BuildOptions one_thread;  // no sample queries: the index brings its own
  one_thread.threads = 1;
  for (auto* compacted : {&index, &loaded}) {
    for (std::size_t i = 0; i < set.keys.rows; i += 5) compacted->remove(i);
    compacted->compact(one_thread);
    CHECK(compacted->deleted_count() == 0);
    SearchStats fresh_work, compacted_work;
    auto expected = fresh.search_batch(set.eval_queries, {.k = 10, .ef = 40}, 1, &fresh_work);
    auto found = compacted->search_batch(set.eval_queries, {.k = 10, .ef = 40}, 1, &compacted_work);
    CHECK(compacted_work.distances == fresh_work.distances);
    for (std::size_t q = 0; q < found.size(); ++q) {
      REQUIRE(found[q].size() == expected[q].size());
      for (std::size_t i = 0; i < found[q].size(); ++i) CHECK(found[q][i].id == expected[q][i].id);
    }
  }
}

TEST_CASE("keys added after the build join the attention graph's one layer, and walks still start where queries go" *
          doctest::test_suite("quality")) {
  // Real attention keys arrive as a KV cache grows: the last fifth of 20,000 keys is
  // added in batches after the graph was learned from the first four fifths.
  const RealKeys set = real_keys();
  BuildOptions options;
  options.sample_queries = set.train_queries;
  const auto spec = IndexSpec::parse("attn16", Metric::InnerProduct, 128);
  auto full = Index::build(spec, set.keys, {}, options);
  const std::size_t base = set.keys.rows * 4 / 5;
  auto grown = Index::build(spec, set.keys.view().slice(0, base), {}, options);
  BuildOptions in_order;  // one thread: the same graph every run
  in_order.threads = 1;
  add_in_batches(grown, set.keys, base, 500, in_order);
  SearchStats full_work, grown_work;
  const SearchParams params{.k = 10, .ef = 60};
  double full_recall = recall(full.search_batch(set.eval_queries, params, 1, &full_work), set.truth);
  double grown_recall = recall(grown.search_batch(set.eval_queries, params, 1, &grown_work), set.truth);
  MESSAGE("recall@10 at ef 60: built with every key ", full_recall, ", a fifth added later ", grown_recall);
  // A new key drawn onto an HNSW level above the graph became every walk's entry point,
  // a key no query is near: at 100k keys recall@10 at ef 120 fell from 0.89 to 0.07.
  CHECK(grown_recall >= full_recall - 0.05);
}

TEST_CASE("keys added to an empty attention index are linked where the sample queries that score them best walk" *
          doctest::test_suite("quality")) {
  // A collection grows its attention graph by upserts before any checkpoint learns it.
  // Linked key to key only, 100k real keys grown this way reached recall@10 0.44 at ef 120
  // against 0.90 learned; each new key is now also linked to what its best sample
  // queries' walks find.
  const RealKeys set = real_keys();
  // Both from the same 4,000 sample queries: no drawn stand-ins for the learned graph.
  const auto spec = IndexSpec::parse("attn16,lq0", Metric::InnerProduct, 128);
  BuildOptions learn;
  learn.sample_queries = set.train_queries;
  auto learned = Index::build(spec, set.keys, {}, learn);
  auto grown = Index::create(spec, set.train_queries);
  add_in_batches(grown, set.keys, 0, 1000);
  CHECK(grown.inserted_since_learned() == set.keys.rows);
  // The learned graph's lists are longer (its in-link trees), so a walk of the same ef
  // scores more keys there: the grown graph gets a wider window for about the same work.
  SearchStats learned_work, grown_work;
  double learned_recall =
      recall(learned.search_batch(set.eval_queries, {.k = 10, .ef = 60}, 1, &learned_work), set.truth);
  double grown_recall = recall(grown.search_batch(set.eval_queries, {.k = 10, .ef = 75}, 1, &grown_work), set.truth);
  MESSAGE("recall@10: learned ", learned_recall, " at ef 60 (", learned_work.distances / set.eval_queries.rows,
          " keys scored), grown from empty ", grown_recall, " at ef 75 (", grown_work.distances / set.eval_queries.rows,
          ")");
  CHECK(grown_recall >= learned_recall - 0.05);
  CHECK(grown_work.distances <= learned_work.distances * 5 / 4);
}

TEST_CASE("a few hundred sample queries, topped up with drawn ones, teach the graph nearly what many real ones do" *
          doctest::test_suite("quality")) {
  // A short prompt gives few prefill queries. Learned from 300 alone, most keys' lists
  // are not query-informed; drawn stand-ins from a Gaussian fitted to the 300 fill in.
  const RealKeys set = real_keys();
  auto build = [&](const std::string& spec, std::size_t sample_queries) {
    BuildOptions options;
    options.sample_queries = set.train_queries.view().slice(0, sample_queries);
    return Index::build(IndexSpec::parse(spec, Metric::InnerProduct, 128), set.keys, {}, options);
  };
  const SearchParams params{.k = 10, .ef = 60};
  auto recall_of = [&](const Index& index, SearchStats& work) {
    return recall(index.search_batch(set.eval_queries, params, 1, &work), set.truth);
  };
  SearchStats few_work, topped_work, many_work;
  const double few = recall_of(build("attn16,lq0", 300), few_work);
  const double topped = recall_of(build("attn16", 300), topped_work);
  const double many = recall_of(build("attn16,lq0", 4000), many_work);
  MESSAGE("recall@10 at ef 60 (keys scored): 300 sample queries ", few, " (", few_work.distances / 200,
          "), topped up ", topped, " (", topped_work.distances / 200, "), 4,000 real ", many, " (",
          many_work.distances / 200, ")");
  CHECK(topped > few + 0.07);
  CHECK(topped > many - 0.05);
  CHECK(topped_work.distances < many_work.distances * 5 / 4);
}

TEST_CASE("nq<N> sets how many exact neighbours of each sample query shape the graph") {
  TempDirectory dir;
  auto set = ood_synthetic(3000, 500, 50, 16, 9);
  auto truth = exact_neighbours(set.keys, set.eval_queries, 10, Metric::InnerProduct);
  auto narrow = build_with_sample_queries(set, std::string("attn8,nq2") + small_learning);
  auto wide = build_with_sample_queries(set, std::string("attn8,nq100") + small_learning);
  SearchParams params{.k = 10, .ef = 20};
  auto narrow_hits = narrow.search_batch(set.eval_queries, params);
  auto wide_hits = wide.search_batch(set.eval_queries, params);
  MESSAGE("recall@10 at ef 20: nq2 ", recall(narrow_hits, truth), ", nq100 ", recall(wide_hits, truth));
  std::size_t different = 0;  // queries whose walks differ: the setting reaches the construction
  for (std::size_t q = 0; q < narrow_hits.size(); ++q) {
    std::vector<std::uint64_t> a, b;
    for (const auto& hit : narrow_hits[q]) a.push_back(hit.id);
    for (const auto& hit : wide_hits[q]) b.push_back(hit.id);
    different += a != b;
  }
  CHECK(different > 0);
  narrow.save(dir.path());
  CHECK(Index::load(dir.path()).spec().query_neighbours == 2);
}

TEST_CASE("a sample query's next hits get lists of their own unless they are some query's nearest") {
  // Rows on a line (L2); every sample query sits at 50.3, so its hits are 50, 51, 49, 52, …
  // and no row but 50 is any query's nearest.
  Matrix rows(100, 2);
  for (std::size_t i = 0; i < rows.rows; ++i) rows.row(i)[0] = float(i);
  Matrix queries(engine::min_attention_sample_queries, 2);
  for (std::size_t q = 0; q < queries.rows; ++q) queries.row(q)[0] = 50.3f;
  engine::AttentionGraphParams params;
  params.degree = 8;
  params.query_neighbours = 20;
  params.threads = 1;
  auto list_of = [](const engine::AttentionGraph& graph, std::uint32_t row) {
    auto list = graph.neighbours[row];
    std::sort(list.begin(), list.end());
    return list;
  };

  params.pivots = 1;
  auto roar = engine::build_attention_graph(rows, queries, Metric::L2, params);
  params.pivots = 3;
  auto spread = engine::build_attention_graph(rows, queries, Metric::L2, params);
  CHECK(roar.entry == 50);
  CHECK(list_of(roar, 50).size() >= params.degree);
  CHECK(list_of(roar, 51).size() < params.degree);  // only its line neighbours and the pivot
  for (std::uint32_t second_or_third : {51u, 49u}) {
    auto list = list_of(spread, second_or_third);
    CHECK(list.size() >= params.degree);
    CHECK(std::find(list.begin(), list.end(), 50u) != list.end());
  }
  CHECK(list_of(spread, 52).size() < params.degree);  // the fourth hit is past `pivots`
}

TEST_CASE("each sample query's first hits are linked from its better ones, where a few keys top every query") {
  // On the hub-dominated set the pruned lists of the hubs, which top every query, link
  // almost none of a query's lower hits, so a walk holding the hubs could not reach them.
  auto set = ood_synthetic(5000, 1000, 5, 16, 9);
  const std::size_t depth = 50;
  auto truth = exact_search(set.keys, set.train_queries, depth, Metric::InnerProduct, 1);
  engine::AttentionGraphParams params;
  params.degree = 16;
  params.query_neighbours = depth;
  params.learning_queries = 0;  // the trees of the queries `truth` holds
  params.threads = 1;
  // The fraction of (query, hit) pairs, hits after the first, that none of the query's better hits lists.
  auto unlinked = [&](const engine::AttentionGraph& graph) {
    std::size_t missing = 0, pairs = 0;
    for (const auto& hits : truth) {
      for (std::size_t r = 1; r < hits.size(); ++r, ++pairs) {
        bool linked = false;
        for (std::size_t better = 0; better < r && !linked; ++better) {
          const auto& list = graph.neighbours[hits[better].id];
          linked = std::find(list.begin(), list.end(), hits[r].id) != list.end();
        }
        missing += linked ? 0 : 1;
      }
    }
    return double(missing) / double(pairs);
  };
  params.in_link_depth = 0;
  const double without = unlinked(engine::build_attention_graph(set.keys, set.train_queries, Metric::InnerProduct, params));
  params.in_link_depth = depth;
  const double with = unlinked(engine::build_attention_graph(set.keys, set.train_queries, Metric::InnerProduct, params));
  MESSAGE("hits no better hit links: ", without, " without the trees, ", with, " with them");
  CHECK(without > 0.2);
  CHECK(with < 0.25 * without);
}

TEST_CASE("walks hold a query's top 100 where a few keys top every query" * doctest::test_suite("quality")) {
  auto set = ood_synthetic(20000, 3000, 200, 48);
  auto truth = exact_neighbours(set.keys, set.eval_queries, 100, Metric::InnerProduct);
  auto index = build_with_sample_queries(set, "attn16,efc100");
  SearchStats stats;
  auto found = index.search_batch(set.eval_queries, {.k = 100, .ef = 200}, 0, &stats);
  const double scored = double(stats.distances) / double(stats.queries);
  MESSAGE("recall@100 ", recall(found, truth), " after scoring ", scored, " keys");
  CHECK(recall(found, truth) >= 0.95);
  CHECK(scored < 0.15 * 20000);
}

TEST_CASE("attention graph bad input") {
  auto set = ood_synthetic(500, 150, 1, 8, 9);
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("attn8", Metric::InnerProduct, 8), set.keys),
                       doctest::Contains("sample queries"), InvalidArgument);
  BuildOptions options;
  auto few = set.train_queries.view().slice(0, 20);
  options.sample_queries = few;
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("attn8", Metric::InnerProduct, 8), set.keys, {}, options),
                       doctest::Contains("at least 100"), InvalidArgument);
  Matrix wrong(200, 9);
  options.sample_queries = wrong;
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("attn8", Metric::InnerProduct, 8), set.keys, {}, options),
                       doctest::Contains("9 dimensions"), InvalidArgument);
}

TEST_CASE("an attention index created empty links keys as they come and learns its graph at compact()") {
  TempDirectory dir;
  auto set = ood_synthetic(2000, 400, 30, 16, 22);
  BuildOptions one_thread;
  one_thread.threads = 1;
  const auto spec = IndexSpec::parse(std::string("attn8") + small_learning, Metric::InnerProduct, 16);
  std::vector<std::uint64_t> ids(set.keys.rows);
  std::iota(ids.begin(), ids.end(), std::uint64_t{0});

  auto index = Index::create(spec, set.train_queries);
  CHECK(index.size() == 0);
  CHECK(index.memory_bytes() >= set.train_queries.values.size() * sizeof(float));  // the kept queries
  for (std::size_t first = 0; first < set.keys.rows; first += 500) {
    index.add(std::span(ids).subspan(first, 500), set.keys.view().slice(first, 500), one_thread);
  }
  CHECK(index.inserted_since_learned() == set.keys.rows);
  index.save(dir.path());
  auto loaded = Index::load(dir.path());
  CHECK(loaded.inserted_since_learned() == set.keys.rows);

  // Learned, the graph is the one a build from all keys learns, walk for walk.
  BuildOptions learn = one_thread;
  learn.sample_queries = set.train_queries;
  auto fresh = Index::build(spec, set.keys, ids, learn);
  CHECK(fresh.inserted_since_learned() == 0);
  SearchStats fresh_work;
  auto expected = fresh.search_batch(set.eval_queries, {.k = 10, .ef = 40}, 1, &fresh_work);
  for (auto* learned : {&index, &loaded}) {
    learned->compact(one_thread);
    CHECK(learned->inserted_since_learned() == 0);
    SearchStats work;
    auto found = learned->search_batch(set.eval_queries, {.k = 10, .ef = 40}, 1, &work);
    CHECK(work.distances == fresh_work.distances);
    for (std::size_t q = 0; q < found.size(); ++q) {
      REQUIRE(found[q].size() == expected[q].size());
      for (std::size_t i = 0; i < found[q].size(); ++i) CHECK(found[q][i].id == expected[q][i].id);
    }
  }
  std::uint64_t later = 5000;
  index.add(std::span(&later, 1), set.eval_queries.view().slice(0, 1), one_thread);
  CHECK(index.inserted_since_learned() == 1);
}

TEST_CASE("an attention index created empty needs enough sample queries of its dimension") {
  auto set = ood_synthetic(200, 150, 5, 16, 3);
  const auto spec = IndexSpec::parse("attn8", Metric::InnerProduct, 16);
  CHECK_THROWS_WITH_AS(Index::create(spec), doctest::Contains("sample queries"), InvalidArgument);
  CHECK_THROWS_WITH_AS(Index::create(spec, set.train_queries.view().slice(0, 50)), doctest::Contains("at least 100"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(Index::create(IndexSpec::parse("attn8", Metric::InnerProduct, 8), set.train_queries),
                       doctest::Contains("dimensions"), InvalidArgument);
  CHECK_THROWS_WITH_AS(Index::create(IndexSpec::parse("hnsw8", Metric::InnerProduct, 16), set.train_queries),
                       doctest::Contains("only attention graphs"), InvalidArgument);
  Matrix with_nan = set.train_queries;
  with_nan.row(7)[3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(Index::create(spec, with_nan), InvalidArgument);
}

TEST_CASE("a learned attention graph reaches every key from its entry point, also where a few keys top every query") {
  // On the seeded hub-dominated set the hubs' pruned lists were the only way in to most
  // keys: before the build ran the reachability repair, a search as wide as the index
  // found under a third of them, so a filter allowing only the others found nothing.
  auto set = ood_synthetic(5000, 1000, 5, 16, 9);
  auto index = build_with_sample_queries(set, std::string("attn32") + small_learning);
  auto all = index.search(set.eval_queries.row(0), {.k = set.keys.rows, .ef = set.keys.rows});
  CHECK(all.size() == set.keys.rows);
}
