// The real Fashion-MNIST IDX files as Debian's dataset-fashion-mnist installs them:
// gzipped, 60000 + 10000 images of 28 x 28 u8 pixels and labels 0..9.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <string>

#include "quiver/vector_io.h"

namespace quiver {
namespace {

const std::filesystem::path kDir = QUIVER_FASHION_MNIST_DIR;

bool all_pixels(const Matrix& images) {
  for (float v : images.values) {
    if (v < 0.0f || v > 255.0f || v != std::floor(v)) return false;
  }
  return true;
}

// Counts per class 0..9; labels outside that range land in slot 10.
std::array<std::size_t, 11> class_counts(const IntMatrix& labels) {
  std::array<std::size_t, 11> counts{};
  for (std::int32_t l : labels.values) ++counts[l >= 0 && l <= 9 ? static_cast<std::size_t>(l) : 10];
  return counts;
}

TEST_CASE("Fashion-MNIST train and test sets") {
  if (!std::filesystem::exists(kDir / "train-images-idx3-ubyte.gz")) {
    MESSAGE("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); skipped");
    return;
  }
  const Matrix train = read_vectors(kDir / "train-images-idx3-ubyte.gz");
  CHECK(train.rows == 60000);
  CHECK(train.cols == 784);
  CHECK(all_pixels(train));
  const Matrix test = read_vectors(kDir / "t10k-images-idx3-ubyte.gz");
  CHECK(test.rows == 10000);
  CHECK(test.cols == 784);
  CHECK(all_pixels(test));

  const IntMatrix train_labels = read_int_vectors(kDir / "train-labels-idx1-ubyte.gz");
  REQUIRE(train_labels.rows == 60000);
  CHECK(train_labels.cols == 1);
  CHECK(train_labels.values[0] == 9);  // the first training image is an ankle boot
  // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
  const auto train_counts = class_counts(train_labels);
  CHECK(train_counts[10] == 0);
  for (std::size_t c = 0; c < 10; ++c) CHECK(train_counts[c] == 6000);
  const IntMatrix test_labels = read_int_vectors(kDir / "t10k-labels-idx1-ubyte.gz");
  REQUIRE(test_labels.rows == 10000);
  const auto test_counts = class_counts(test_labels);
  CHECK(test_counts[10] == 0);
  for (std::size_t c = 0; c < 10; ++c) CHECK(test_counts[c] == 1000);

  // A prefix read returns exactly the first rows of the full read.
  const Matrix head = read_vectors(kDir / "train-images-idx3-ubyte.gz", 100);
  REQUIRE(head.rows == 100);
  CHECK(std::equal(head.values.begin(), head.values.end(), train.values.begin()));
  // Images are not blank: every one has some ink.
  for (std::size_t r = 0; r < 100; ++r) {
    float ink = 0;
    for (float v : head.row(r)) ink += v;
    CHECK(ink > 0);
  }
}

}  // namespace
}  // namespace quiver
