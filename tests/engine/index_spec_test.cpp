#include <doctest/doctest.h>

#include "quiver/error.h"
#include "quiver/index_spec.h"

using namespace quiver;

TEST_CASE("spec strings parse, keep defaults and print canonically") {
  auto spec = IndexSpec::parse("hnsw16,f16", Metric::Cosine, 100);
  CHECK(spec.M == 16);
  CHECK(spec.primary == Encoding::F16);
  CHECK(spec.ef_construction == 200);
  CHECK(spec.metric == Metric::Cosine);
  CHECK(spec.to_string() == "hnsw16,efc200,f16");
  CHECK(IndexSpec::parse(spec.to_string(), Metric::Cosine, 100).to_string() == spec.to_string());
  CHECK(IndexSpec::parse("", Metric::L2, 8).to_string() == "hnsw32,efc200,f32");
  CHECK(IndexSpec::parse(" hnsw8 , efc40 ", Metric::L2, 8).ef_construction == 40);
}

TEST_CASE("bad spec strings name the offending token") {
  CHECK_THROWS_WITH_AS(IndexSpec::parse("hnsw32,pq8", Metric::L2, 8), doctest::Contains("'pq8'"), InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("hnswx", Metric::L2, 8), doctest::Contains("'hnswx'"), InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("hnsw1", Metric::L2, 8), doctest::Contains("M = 1"), InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("efc", Metric::L2, 8), doctest::Contains("'efc'"), InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("hnsw32", Metric::L2, 0), doctest::Contains("dimension 0"), InvalidArgument);
  CHECK_THROWS_AS(IndexSpec::parse("hnsw32", Metric::L2, IndexSpec::max_dim + 1), InvalidArgument);
}

TEST_CASE("metric names") {
  CHECK(parse_metric("euclidean") == Metric::L2);
  CHECK(parse_metric("angular") == Metric::Cosine);
  CHECK(parse_metric("dot") == Metric::InnerProduct);
  CHECK(to_string(Metric::InnerProduct) == "ip");
  CHECK_THROWS_WITH_AS(parse_metric("hamming"), doctest::Contains("hamming"), InvalidArgument);
}

TEST_CASE("compressed and reduced specs") {
  auto lvq = IndexSpec::parse("hnsw32,lvq8", Metric::L2, 784);
  CHECK(lvq.primary == Encoding::Lvq8);
  CHECK(lvq.rerank == Rerank::None);
  CHECK(lvq.to_string() == "hnsw32,efc200,lvq8");

  auto lean = IndexSpec::parse("leanvec160,lvq4x8", Metric::L2, 784);
  CHECK(lean.reduction == Reduction::LeanVecId);
  CHECK(lean.reduced_dim == 160);
  CHECK(lean.primary_dim() == 160);
  CHECK(lean.rerank == Rerank::Lvq8);  // LeanVec re-ranks at full dimension by default
  CHECK(lean.to_string() == "hnsw32,efc200,leanvec160,lvq4x8,rerank=lvq8");
  CHECK(IndexSpec::parse(lean.to_string(), Metric::L2, 784).to_string() == lean.to_string());

  auto ood = IndexSpec::parse("leanvec-ood64,f16,rerank=f32", Metric::InnerProduct, 128);
  CHECK(ood.reduction == Reduction::LeanVecOod);
  CHECK(ood.needs_sample_queries());
  CHECK(ood.rerank == Rerank::F32);

  CHECK_THROWS_WITH_AS(IndexSpec::parse("leanvec784", Metric::L2, 784), doctest::Contains("target dimension 784"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("rerank=bf16", Metric::L2, 8), doctest::Contains("rerank=bf16"),
                       InvalidArgument);
}

TEST_CASE("attention graphs take nq<N>, the exact neighbours per sample query") {
  auto spec = IndexSpec::parse("attn32,nq400", Metric::InnerProduct, 64);
  CHECK(spec.query_neighbours == 400);
  CHECK(spec.to_string() == "attn32,efc200,nq400,f32");
  CHECK(IndexSpec::parse(spec.to_string(), Metric::InnerProduct, 64).query_neighbours == 400);
  CHECK(IndexSpec::parse("attn32", Metric::InnerProduct, 64).query_neighbours == IndexSpec::default_query_neighbours);
  CHECK(IndexSpec::parse("attn32", Metric::InnerProduct, 64).to_string() == "attn32,efc200,f32");
  CHECK(IndexSpec::parse("hnsw32,nq400", Metric::InnerProduct, 64).to_string() == "hnsw32,efc200,f32");
  CHECK_THROWS_WITH_AS(IndexSpec::parse("attn32,nq0", Metric::InnerProduct, 64), doctest::Contains("nq0"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("attn32,nq20000", Metric::InnerProduct, 64), doctest::Contains("1..10000"),
                       InvalidArgument);
}

TEST_CASE("attention graphs take lq<N>, the sample queries they learn from after topping up") {
  auto spec = IndexSpec::parse("attn32,lq5000", Metric::InnerProduct, 64);
  CHECK(spec.learning_queries == 5000);
  CHECK(spec.to_string() == "attn32,efc200,lq5000,f32");
  CHECK(IndexSpec::parse(spec.to_string(), Metric::InnerProduct, 64).learning_queries == 5000);
  CHECK(IndexSpec::parse("attn32,lq0", Metric::InnerProduct, 64).to_string() == "attn32,efc200,lq0,f32");
  CHECK(IndexSpec::parse("attn32", Metric::InnerProduct, 64).learning_queries == IndexSpec::default_learning_queries);
  CHECK(IndexSpec::parse("hnsw32,lq5000", Metric::InnerProduct, 64).to_string() == "hnsw32,efc200,f32");
  CHECK_THROWS_WITH_AS(IndexSpec::parse("attn32,lq2000000", Metric::InnerProduct, 64),
                       doctest::Contains("0..1000000"), InvalidArgument);
  CHECK_THROWS_WITH_AS(IndexSpec::parse("attn32,lqmany", Metric::InnerProduct, 64), doctest::Contains("lqmany"),
                       InvalidArgument);
}
