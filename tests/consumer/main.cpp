// Builds a small index, saves, reloads and searches it through the installed public
// API only; exits non-zero if anything is off.
#include <quiver/error.h>
#include <quiver/index.h>

#include <cstdio>
#include <filesystem>
#include <random>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer SCRATCH_DIR\n");
    return 2;
  }
  quiver::Matrix data(1000, 16);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (float& v : data.values) v = normal(rng);

  auto spec = quiver::IndexSpec::parse("hnsw16,efc100,f16", quiver::Metric::Cosine, 16);
  auto index = quiver::Index::build(spec, data);
  index.save(argv[1]);
  auto loaded = quiver::Index::load(argv[1]);

  int found_self = 0;
  for (std::size_t i = 0; i < 100; ++i) {
    auto hits = loaded.search(data.row(i), {.k = 1, .ef = 32});
    found_self += hits.size() == 1 && hits[0].id == i;
  }
  try {
    loaded.remove(123456);
    return 1;
  } catch (const quiver::NotFound&) {
    // typed exceptions cross the library boundary
  }
  std::printf("consumer: %d/100 vectors found themselves\n", found_self);
  return found_self >= 99 ? 0 : 1;
}
