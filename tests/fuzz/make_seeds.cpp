// Writes a seed corpus of valid inputs for every fuzz target into <out>/<target>/: small
// files produced by quiver's own writers (or by hand where quiver only reads a format),
// each behind the selector byte its target decodes. Generated rather than committed, so
// the repository carries no binary blobs; run by make_seeds.sh.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "engine/io/npy_header.h"
#include "quiver/relevance_filter.h"
#include "quiver/vector_io.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/index_templates.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class Corpus {
 public:
  Corpus(fs::path root, const char* target) : directory_(std::move(root) / target) {
    fs::create_directories(directory_);
  }
  void add(std::uint8_t selector, const Bytes& payload) {
    std::ofstream out(directory_ / ("seed-" + std::to_string(count_++)), std::ios::binary | std::ios::trunc);
    out.put(static_cast<char>(selector));
    out.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
  }
  void add_text(std::uint8_t selector, const std::string& text) { add(selector, Bytes(text.begin(), text.end())); }

 private:
  fs::path directory_;
  std::size_t count_ = 0;
};

void append_u32(Bytes& out, std::uint32_t value, bool big_endian) {
  for (int i = 0; i < 4; ++i) {
    int shift = big_endian ? 24 - 8 * i : 8 * i;
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

Bytes gzip(const Bytes& payload, const fs::path& scratch) {
  auto path = scratch / "seed.gz";
  gzFile file = gzopen(path.c_str(), "wb9");
  gzwrite(file, payload.data(), static_cast<unsigned>(payload.size()));
  gzclose(file);
  return read_bytes(path);
}

quiver::Matrix small_matrix(std::size_t rows, std::size_t cols, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  quiver::Matrix m(rows, cols);
  for (auto& v : m.values) v = uniform(random);
  return m;
}

quiver::IntMatrix small_ints(std::size_t rows, std::size_t cols) {
  quiver::IntMatrix m(rows, cols);
  for (std::size_t i = 0; i < m.values.size(); ++i) m.values[i] = static_cast<std::int32_t>(i * 7 % 50);
  return m;
}

void vector_file_seeds(const fs::path& out, const fs::path& scratch) {
  auto floats = small_matrix(5, 4, 1);
  auto ints = small_ints(5, 3);
  Corpus vecs(out, "fuzz_vecs");
  quiver::write_vectors(scratch / "a.fvecs", floats);
  quiver::write_int_vectors(scratch / "a.ivecs", ints);
  vecs.add(0, read_bytes(scratch / "a.fvecs"));
  vecs.add(0x30, read_bytes(scratch / "a.fvecs"));  // row cap 2
  vecs.add(2, read_bytes(scratch / "a.ivecs"));
  Bytes bvecs;
  for (int row = 0; row < 4; ++row) {
    append_u32(bvecs, 6, false);
    for (int j = 0; j < 6; ++j) bvecs.push_back(static_cast<std::uint8_t>(row * 40 + j));
  }
  vecs.add(1, bvecs);

  Corpus bin(out, "fuzz_bin");
  quiver::write_vectors(scratch / "a.fbin", floats);
  quiver::write_int_vectors(scratch / "a.ibin", ints);
  bin.add(0, read_bytes(scratch / "a.fbin"));
  bin.add(0x20, read_bytes(scratch / "a.fbin"));
  bin.add(2, read_bytes(scratch / "a.ibin"));
  Bytes u8bin;
  append_u32(u8bin, 3, false);
  append_u32(u8bin, 5, false);
  for (int i = 0; i < 15; ++i) u8bin.push_back(static_cast<std::uint8_t>(i * 17));
  bin.add(1, u8bin);

  Corpus npy(out, "fuzz_npy");
  quiver::write_vectors(scratch / "a.npy", floats);
  npy.add(0, read_bytes(scratch / "a.npy"));
  npy.add(0x20, read_bytes(scratch / "a.npy"));
  quiver::write_int_vectors(scratch / "b.npy", ints);
  npy.add(1, read_bytes(scratch / "b.npy"));
  auto preamble = quiver::io::format_npy_preamble("|u1", 2, 3);
  Bytes u8npy(preamble.begin(), preamble.end());
  for (int i = 0; i < 6; ++i) u8npy.push_back(static_cast<std::uint8_t>(i));
  npy.add(0, u8npy);

  Corpus idx(out, "fuzz_idx");
  Bytes images;
  append_u32(images, 0x00000803, true);
  append_u32(images, 3, true);
  append_u32(images, 4, true);
  append_u32(images, 4, true);
  for (int i = 0; i < 48; ++i) images.push_back(static_cast<std::uint8_t>(i * 5));
  Bytes labels;
  append_u32(labels, 0x00000801, true);
  append_u32(labels, 5, true);
  for (int i = 0; i < 5; ++i) labels.push_back(static_cast<std::uint8_t>(i % 10));
  // Selector: bit 0 labels, bits 1-2 mode (0 plain, 1 raw .gz bytes, 2 harness gzips).
  idx.add(0, images);
  idx.add(1, labels);
  idx.add(2, gzip(images, scratch));
  idx.add(3, gzip(labels, scratch));
  idx.add(4, images);
  idx.add(5, labels);
  idx.add(0x24, images);
}

void relevance_filter_seeds(const fs::path& out, const fs::path& scratch) {
  // Three well-separated classes.
  std::mt19937 random(5);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  auto make = [&](std::size_t rows, quiver::Matrix& m, std::vector<std::int32_t>& classes) {
    m = quiver::Matrix(rows, 8);
    for (std::size_t i = 0; i < rows; ++i) {
      classes.push_back(static_cast<std::int32_t>(i % 3));
      for (std::size_t j = 0; j < 8; ++j) m.row(i)[j] = (j % 3 == i % 3 ? 1.0f : 0.0f) + noise(random);
    }
  };
  quiver::Matrix base, queries;
  std::vector<std::int32_t> base_classes, query_classes;
  make(150, base, base_classes);
  make(60, queries, query_classes);
  // 50 base rows per class and k = 60: every query's list holds irrelevant hits too.
  auto training = quiver::label_by_class(base, base_classes, queries, query_classes, 60, quiver::Metric::Cosine, 1);
  Corpus corpus(out, "fuzz_relevance_filter");
  for (std::size_t pca : {std::size_t{4}, std::size_t{0}}) {
    quiver::RelevanceOptions options;
    options.max_epochs = 4;
    options.hidden_units = 4;
    options.pca_dims = pca;
    options.map = pca ? quiver::RelevanceMap::Power : quiver::RelevanceMap::Quadratic;
    auto filter = quiver::RelevanceFilter::train(training, options);
    filter.save(scratch / "filter.json");
    corpus.add(1, read_bytes(scratch / "filter.json"));
    corpus.add(0, read_bytes(scratch / "filter.json"));
  }
}

void index_seeds(const fs::path& out, const fs::path& scratch) {
  auto templates = quiver::fuzz::build_index_templates(scratch / "templates");
  Corpus corpus(out, "fuzz_index_load");
  for (std::size_t t = 0; t < templates.size(); ++t) {
    auto manifest = quiver::engine::Manifest::read(templates[t].directory);
    for (std::size_t r = 0; r < templates[t].roles.size(); ++r) {
      const auto& role = templates[t].roles[r];
      auto file = role == "manifest" ? fs::path(quiver::engine::Manifest::file_name)
                                     : fs::path(manifest.files.at(role).name);
      corpus.add(quiver::fuzz::index_selector(t, r, templates.size()), read_bytes(templates[t].directory / file));
    }
  }
}

void index_spec_seeds(const fs::path& out) {
  // Selector bytes: metric (byte 0 % 3), then the dimension (dim = b1 << 9 | b2 << 1 | b0 >> 7).
  Corpus corpus(out, "fuzz_index_spec");
  const char* specs[] = {"hnsw32",       "hnsw16,efc100,f16",        "leanvec32,lvq8,rerank=f16,hnsw32",
                         "attn24,lvq4x8", "leanvec-ood16,lvq4,rerank=f32", "lvq8,rerank=none", "hnsw2,efc1,f32"};
  for (const char* spec : specs) {
    std::string text = std::string("\x00\x64", 2) + spec;  // L2, dimension 128
    corpus.add(0, Bytes(text.begin(), text.end()));
    text = std::string("\x00\x00", 2) + spec;  // cosine, dimension 0: rejected
    corpus.add(2, Bytes(text.begin(), text.end()));
  }
  for (const char* spec : {"attn32,nq800,qavq16", "hnsw16,qavq32x4,rerank=none", "qavq8x8"}) {
    std::string text = std::string("\x00\x40", 2) + spec;  // inner product, dimension 128
    corpus.add(1, Bytes(text.begin(), text.end()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: quiver_fuzz_seeds <corpus-root>\n";
    return 2;
  }
  const fs::path out = argv[1];
  const auto& scratch = quiver::fuzz::scratch_directory();
  vector_file_seeds(out, scratch);
  relevance_filter_seeds(out, scratch);
  index_seeds(out, scratch);
  index_spec_seeds(out);
  return 0;
}
