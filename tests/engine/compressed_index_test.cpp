#include <doctest/doctest.h>

#include <fstream>
#include <random>

#include "engine/exact_neighbours.h"
#include "engine/graph_search.h"
#include "engine/manifest.h"
#include "engine/temp_directory.h"
#include "engine/vector_encoder.h"
#include "quiver/error.h"
#include "quiver/index.h"
#include "support/ood_synthetic.h"
#include "support/synthetic.h"

using namespace quiver;
using namespace quiver::testing;

namespace {

// Clustered data whose variance sits in a few directions, as real embeddings' does:
// LeanVec can drop most dimensions and keep the neighbours.
Matrix low_rank_vectors(std::size_t rows, std::size_t dim, std::size_t rank, std::uint64_t seed) {
  auto latent = clustered_vectors(rows, rank, seed);
  std::mt19937_64 rng(seed + 1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix basis(rank, dim);
  for (float& v : basis.values) v = normal(rng) / std::sqrt(float(rank));
  Matrix out(rows, dim);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < dim; ++j) {
      float value = 0.05f * normal(rng);
      for (std::size_t r = 0; r < rank; ++r) value += latent.row(i)[r] * basis.row(r)[j];
      out.row(i)[j] = value;
    }
  }
  return out;
}

// Puts the encoder file of the index saved in `from` under the manifest entry of the one
// saved in `into`, checksum and all, so that only the encoder's own checks can catch it.
void swap_in_encoder(const std::filesystem::path& into, const std::filesystem::path& from) {
  auto manifest = engine::Manifest::read(into);
  auto target = into / manifest.files.at("encoder").name;
  std::filesystem::copy_file(from / engine::Manifest::read(from).files.at("encoder").name, target,
                             std::filesystem::copy_options::overwrite_existing);
  manifest.files["encoder"] = engine::describe_file(target);
  manifest.write(into);
}

}  // namespace

TEST_CASE("compressed encodings keep recall@10 >= 0.95 with re-ranking" * doctest::test_suite("quality")) {
  auto data = low_rank_vectors(4000, 64, 12, 3);
  auto queries = low_rank_vectors(100, 64, 12, 4);
  auto truth = exact_neighbours(data, queries, 10, Metric::L2);
  BuildOptions options;
  options.threads = 1;
  for (auto spec : {"hnsw16,lvq8", "hnsw16,lvq4x8", "hnsw16,lvq4,rerank=f32", "hnsw16,leanvec16,f32,rerank=f32",
                    "hnsw16,leanvec16,lvq8", "hnsw16,leanvec24,lvq4x8,rerank=f16"}) {
    CAPTURE(std::string(spec));
    auto index = Index::build(IndexSpec::parse(spec, Metric::L2, 64), data, {}, options);
    auto found = index.search_batch(queries, {.k = 10, .ef = 64, .buffer = 128});
    double measured = recall(found, truth);
    CAPTURE(measured);
    CHECK(measured >= 0.95);
    CHECK(index.primary_code_bytes() < 64 * sizeof(float));
  }
}

TEST_CASE("a larger buffer re-ranks more candidates without widening the walk") {
  auto data = low_rank_vectors(3000, 64, 12, 5);
  auto queries = low_rank_vectors(50, 64, 12, 6);
  auto truth = exact_neighbours(data, queries, 10, Metric::L2);
  auto index = Index::build(IndexSpec::parse("hnsw16,leanvec8,lvq4,rerank=f32", Metric::L2, 64), data);
  SearchStats narrow, wide;
  double narrow_recall = recall(index.search_batch(queries, {.k = 10, .ef = 20}, 1, &narrow), truth);
  double wide_recall = recall(index.search_batch(queries, {.k = 10, .ef = 20, .buffer = 200}, 1, &wide), truth);
  CHECK(wide_recall > narrow_recall);
  CHECK(wide.hops == narrow.hops);  // same walk: only the re-ranked buffer grew
}

TEST_CASE("compressed indexes save, load, remove and compact") {
  TempDirectory dir;
  auto data = low_rank_vectors(1500, 32, 8, 7);
  for (auto metric : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
    for (auto spec : {"hnsw12,lvq4x8", "hnsw12,leanvec12,lvq8,rerank=f16"}) {
      CAPTURE(std::string(spec));
      auto index = Index::build(IndexSpec::parse(spec, metric, 32), data);
      index.remove(9);
      index.save(dir.path());
      auto loaded = Index::load(dir.path());
      CHECK(loaded.spec().to_string() == index.spec().to_string());
      CHECK(loaded.primary_code_bytes() == index.primary_code_bytes());
      CHECK(loaded.rerank_code_bytes() == index.rerank_code_bytes());
      for (std::size_t q = 10; q < 30; ++q) {
        auto a = index.search(data.row(q), {.k = 5, .ef = 32});
        auto b = loaded.search(data.row(q), {.k = 5, .ef = 32});
        REQUIRE(a.size() == b.size());
        for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].id == b[i].id);
        // Under L2 and cosine each vector finds itself through compression (under inner
        // product a longer vector can beat it).
        if (metric != Metric::InnerProduct) CHECK(b[0].id == q);
      }
      loaded.compact();
      CHECK(loaded.deleted_count() == 0);
      CHECK(loaded.size() == 1499);
      if (metric != Metric::InnerProduct) CHECK(loaded.search(data.row(11), {.k = 1, .ef = 32})[0].id == 11);
    }
  }
}

TEST_CASE("LeanVec-OOD learns from sample queries and beats LeanVec-ID on queries unlike the data" * doctest::test_suite("quality")) {
  // Keys and queries in different cones with different anisotropic spreads, as in
  // attention: the directions that matter for <q, x> are not the data's top PCs.
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::size_t dim = 48;
  auto make = [&](std::size_t rows, float shift, float small, float large) {
    Matrix out(rows, dim);
    for (std::size_t i = 0; i < rows; ++i) {
      for (std::size_t j = 0; j < dim; ++j) {
        bool query_heavy = j % 3 == 0;
        out.row(i)[j] = shift + normal(rng) * (query_heavy ? small : large);
      }
    }
    return out;
  };
  auto data = make(4000, 0.5f, 1.0f, 2.0f);
  auto queries = make(200, -0.5f, 3.0f, 0.3f);
  auto train_queries = make(2000, -0.5f, 3.0f, 0.3f);
  auto truth = exact_neighbours(data, queries, 10, Metric::InnerProduct);
  BuildOptions options;
  options.threads = 1;
  options.sample_queries = train_queries;
  auto id = Index::build(IndexSpec::parse("hnsw16,leanvec12,f32,rerank=f32", Metric::InnerProduct, dim), data, {},
                         options);
  auto ood = Index::build(IndexSpec::parse("hnsw16,leanvec-ood12,f32,rerank=f32", Metric::InnerProduct, dim), data,
                          {}, options);
  SearchParams params{.k = 10, .ef = 40};
  double id_recall = recall(id.search_batch(queries, params), truth);
  double ood_recall = recall(ood.search_batch(queries, params), truth);
  MESSAGE("recall@10 at ef 40: leanvec-id ", id_recall, ", leanvec-ood ", ood_recall);
  CHECK(ood_recall > id_recall);
}

TEST_CASE("bad input for learned encodings") {
  auto data = low_rank_vectors(300, 16, 4, 13);
  CHECK_THROWS_WITH_AS(Index::create(IndexSpec::parse("leanvec8,lvq8", Metric::L2, 16)),
                       doctest::Contains("learned from data"), InvalidArgument);
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("leanvec-ood8,lvq8", Metric::InnerProduct, 16), data),
                       doctest::Contains("sample queries"), InvalidArgument);
  BuildOptions options;
  auto wrong = low_rank_vectors(50, 15, 4, 14);
  options.sample_queries = wrong;
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("leanvec-ood8,lvq8", Metric::InnerProduct, 16), data, {}, options),
                       doctest::Contains("15 dimensions"), InvalidArgument);
  auto few = low_rank_vectors(4, 16, 4, 15);
  options.sample_queries = few;
  CHECK_THROWS_AS(Index::build(IndexSpec::parse("leanvec-ood8,lvq8", Metric::InnerProduct, 16), data, {}, options),
                  InvalidArgument);
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("leanvec-ood8,lvq8", Metric::L2, 16), data),
                       doctest::Contains("inner products"), InvalidArgument);
  CHECK_THROWS_WITH_AS(Index::build(IndexSpec::parse("leanvec8,lvq8,rerank=none", Metric::L2, 16), data),
                       doctest::Contains("re-rank"), InvalidArgument);
  auto index = Index::build(IndexSpec::parse("leanvec8,lvq8", Metric::L2, 16), data);
  std::vector<float> query(16, 0.0f);
  CHECK_THROWS_WITH_AS(index.search(query, {.k = 10, .ef = 20, .buffer = 10}), doctest::Contains("buffer = 10"),
                       InvalidArgument);
}

TEST_CASE("an encoder file that does not match the index is rejected") {
  TempDirectory a, b;
  auto data = low_rank_vectors(300, 16, 4, 17);
  Index::build(IndexSpec::parse("leanvec8,lvq8", Metric::L2, 16), data).save(a.path());
  Index::build(IndexSpec::parse("leanvec6,lvq8", Metric::L2, 16), data).save(b.path());
  swap_in_encoder(a.path(), b.path());  // 6 dims under a manifest that says 8
  CHECK_THROWS_WITH_AS(Index::load(a.path()), doctest::Contains("does not match"), CorruptFile);
}

TEST_CASE("qavq codebooks that overlap where the spec says they do not, or the reverse, are rejected") {
  TempDirectory separate, overlapping;
  auto data = low_rank_vectors(300, 16, 4, 18);
  Index::build(IndexSpec::parse("hnsw8,qavq8", Metric::InnerProduct, 16), data).save(separate.path());
  Index::build(IndexSpec::parse("hnsw8,qavq8,overlapping", Metric::InnerProduct, 16), data).save(overlapping.path());
  swap_in_encoder(separate.path(), overlapping.path());
  CHECK_THROWS_WITH_AS(Index::load(separate.path()), doctest::Contains("overlapping"), CorruptFile);
  CHECK(Index::load(overlapping.path()).spec().pq_overlapping);
}

// The qavq flavours: 8- and 4-bit sub-codes, both graph kinds, with and without the float
// copy for re-ranking, separate and overlapping codebooks.
constexpr const char* qavq_specs[] = {"attn16,qavq16", "hnsw16,qavq16", "attn16,qavq32,rerank=none",
                                      "hnsw16,qavq64x4,rerank=none", "attn16,qavq32x4,overlapping,rerank=none"};

TEST_CASE("qavq: query-aware PQ codes walked through lookup tables reach the recall of their width" *
          doctest::test_suite("quality")) {
  // The OOD set: queries unlike the keys, inner product. Both graph kinds walk the codes.
  auto set = ood_synthetic(4000, 2000, 100, 64, 2024);
  auto truth = exact_neighbours(set.keys, set.eval_queries, 10, Metric::InnerProduct);
  BuildOptions options;
  options.threads = 1;
  options.sample_queries = set.train_queries;
  for (auto text : qavq_specs) {
    CAPTURE(std::string(text));
    auto spec = IndexSpec::parse(text, Metric::InnerProduct, 64);
    auto index = Index::build(spec, set.keys, {}, options);
    double measured = recall(index.search_batch(set.eval_queries, {.k = 10, .ef = 200, .buffer = 400}), truth);
    MESSAGE(std::string(text), ": recall@10 at ef 200 ", measured);
    // 4-bit sub-codes hold 16 centroids: alone they rank more coarsely; re-ranked they find the same.
    CHECK(measured >= (spec.rerank != Rerank::None ? 0.9 : spec.pq_bits == 8 ? 0.8 : 0.7));
  }
  // Without sample queries it is plain PQ, and still an index.
  auto plain = Index::build(IndexSpec::parse("hnsw16,qavq16", Metric::InnerProduct, 64), set.keys);
  CHECK(recall(plain.search_batch(set.eval_queries, {.k = 10, .ef = 200, .buffer = 400}), truth) >= 0.8);
}

TEST_CASE("qavq: indexes on codes save, load and compact") {
  auto set = ood_synthetic(800, 300, 20, 64, 2025);
  auto truth = exact_neighbours(set.keys, set.eval_queries, 10, Metric::InnerProduct);
  BuildOptions options;
  options.threads = 1;
  options.sample_queries = set.train_queries;
  for (auto text : qavq_specs) {
    CAPTURE(std::string(text));
    auto spec = IndexSpec::parse(text, Metric::InnerProduct, 64);
    CHECK(IndexSpec::parse(spec.to_string(), Metric::InnerProduct, 64).to_string() == spec.to_string());
    auto index = Index::build(spec, set.keys, {}, options);
    CHECK(index.primary_code_bytes() == spec.pq_sub_spaces * spec.pq_bits / 8);
    SearchParams params{.k = 10, .ef = 100, .buffer = 200};
    auto found = index.search_batch(set.eval_queries, params);

    TempDirectory directory;
    index.save(directory.path());
    auto loaded = Index::load(directory.path());
    auto again = loaded.search_batch(set.eval_queries, params);
    for (std::size_t q = 0; q < again.size(); ++q) {
      REQUIRE(again[q].size() == found[q].size());
      for (std::size_t i = 0; i < again[q].size(); ++i) CHECK(again[q][i].id == found[q][i].id);
    }
    if (spec.rerank == Rerank::None) {
      // Compaction rebuilds from the codes' reconstructions (no float copy is kept).
      double before = recall(found, truth);
      loaded.remove(found[0][0].id);
      loaded.compact();
      CHECK(loaded.size() == set.keys.rows - 1);
      CHECK(recall(loaded.search_batch(set.eval_queries, params), truth) >= before - 0.1);
    }
  }
}

TEST_CASE("qavq x4: neighbour lists are scored together, and hits carry the float table's scores") {
  auto set = ood_synthetic(800, 300, 5, 64, 2026);
  BuildOptions options;
  options.threads = 1;
  options.sample_queries = set.train_queries;
  const auto spec = IndexSpec::parse("hnsw16,qavq16x4,rerank=none", Metric::InnerProduct, 64);
  const auto encoder = engine::VectorEncoder::train(spec, set.keys, set.train_queries, 1);
  const std::size_t rows = 70;  // three fast-scan blocks, the last one partial
  std::vector<std::byte> codes(rows * encoder.primary_bytes());
  for (std::size_t i = 0; i < rows; ++i) {
    encoder.encode(set.keys.row(i), codes.data() + i * encoder.primary_bytes(), nullptr);
  }
  std::vector<const char*> stored(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    stored[i] = reinterpret_cast<const char*>(codes.data() + i * encoder.primary_bytes());
  }
  const auto query = encoder.prepare(set.eval_queries.row(0));
  encoder.with_primary_distance(query, [&](const auto& distance) {
    if constexpr (engine::BatchDistance<std::decay_t<decltype(distance)>>) {
      std::vector<float> together(rows);
      distance.score_batch(stored.data(), rows, together.data());
      for (std::size_t i = 0; i < rows; ++i) CHECK(together[i] == distance(stored[i]));
    } else {
      FAIL("4-bit qavq codes should be scored a neighbour list at a time");
    }
  });

  // The walk ranks on a byte-quantized table; what comes back is scored with the float one,
  // as search_ids scores it. Once a key is removed, walks take the filtered path, which
  // scores neighbour lists the same way.
  auto index = Index::build(spec, set.keys, {}, options);
  const std::uint64_t removed = index.search(set.eval_queries.row(0), {.k = 1, .ef = 40}).at(0).id;
  for (const bool with_tombstone : {false, true}) {
    if (with_tombstone) index.remove(removed);
    for (std::size_t q = 0; q < set.eval_queries.rows; ++q) {
      auto hits = index.search(set.eval_queries.row(q), {.k = 10, .ef = 40});
      REQUIRE(hits.size() == 10);
      for (std::size_t i = 0; i < hits.size(); ++i) {
        CAPTURE(with_tombstone);
        if (i > 0) CHECK(hits[i - 1].score >= hits[i].score);
        CHECK((!with_tombstone || hits[i].id != removed));
        auto alone = index.search_ids(set.eval_queries.row(q), std::span(&hits[i].id, 1), 1);
        REQUIRE(alone.size() == 1);
        CHECK(alone[0].score == hits[i].score);
      }
    }
  }
}

TEST_CASE("qavq: bad specs and empty creation are refused") {
  CHECK_THROWS_WITH_AS(IndexSpec::parse("qavq16", Metric::L2, 64), doctest::Contains("inner product"), InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("qavq10", Metric::InnerProduct, 64), doctest::Contains("divide"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("leanvec16,qavq8", Metric::InnerProduct, 64), doctest::Contains("LeanVec"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(Index::create(IndexSpec::parse("qavq16", Metric::Cosine, 64)),
                       doctest::Contains("learned from data"), InvalidArgument);
  CHECK(IndexSpec::parse("qavq16", Metric::Cosine, 64).to_string() == "hnsw32,efc200,qavq16,rerank=f32");
  CHECK(IndexSpec::parse("qavq16x8", Metric::Cosine, 64).to_string() == "hnsw32,efc200,qavq16,rerank=f32");
  CHECK(IndexSpec::parse("qavq16x4", Metric::Cosine, 64).to_string() == "hnsw32,efc200,qavq16x4,rerank=f32");
  CHECK(IndexSpec::parse("qavq16x4", Metric::Cosine, 64).pq_bits == 4);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("qavq16x5", Metric::InnerProduct, 64), doctest::Contains("x4 or x8"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("qavqx4", Metric::InnerProduct, 64), doctest::Contains("positive integer"),
                       InvalidArgument);
  CHECK(IndexSpec::parse("overlapping,qavq16", Metric::Cosine, 64).to_string() ==
        "hnsw32,efc200,qavq16,overlapping,rerank=f32");
  CHECK_THROWS_WITH_AS(IndexSpec::parse("hnsw32,lvq8,overlapping", Metric::InnerProduct, 64),
                       doctest::Contains("at least 2 sub-spaces"), InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("qavq1,overlapping", Metric::InnerProduct, 64),
                       doctest::Contains("at least 2 sub-spaces"), InvalidArgument);
}
