// Reading the formats quiver does not write (bvecs, u8bin, IDX plain and gzipped) and
// npy variants, from bytes written by hand so that the layout is checked independently
// of quiver's own writers.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "io/io_test_support.h"
#include "quiver/error.h"
#include "quiver/vector_io.h"

namespace quiver {
namespace {

using testing::Bytes;
using testing::TempDir;

// A 3 x 4 pattern with values 0..255 at both ends, so widening u8 -> float is exercised
// at its extremes.
constexpr std::uint8_t kPixels[3][4] = {{0, 1, 2, 255}, {10, 20, 30, 40}, {254, 128, 127, 5}};

void check_pixels(const Matrix& m, std::size_t rows = 3) {
  REQUIRE(m.rows == rows);
  REQUIRE(m.cols == 4);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < 4; ++c) CHECK(m.row(r)[c] == static_cast<float>(kPixels[r][c]));
  }
}

Bytes idx_images(std::uint32_t rows = 3) {
  Bytes b;
  b.be32(0x00000803).be32(rows).be32(2).be32(2);
  for (std::uint32_t r = 0; r < rows; ++r) {
    for (std::uint8_t v : kPixels[r]) b.u8(v);
  }
  return b;
}

TEST_CASE("bvecs: int32 dimension then u8 values per row") {
  TempDir dir;
  Bytes b;
  for (const auto& row : kPixels) {
    b.i32(4);
    for (std::uint8_t v : row) b.u8(v);
  }
  testing::write_file(dir / "x.bvecs", b.str());
  check_pixels(read_vectors(dir / "x.bvecs"));
  check_pixels(read_vectors(dir / "x.bvecs", 2), 2);
}

TEST_CASE("u8bin: u32 rows, u32 dim, then u8 values") {
  TempDir dir;
  Bytes b;
  b.le32(3).le32(4);
  for (const auto& row : kPixels) {
    for (std::uint8_t v : row) b.u8(v);
  }
  testing::write_file(dir / "x.u8bin", b.str());
  check_pixels(read_vectors(dir / "x.u8bin"));
}

TEST_CASE("fvecs and ibin from hand-written bytes") {
  TempDir dir;
  testing::write_file(dir / "x.fvecs", Bytes().i32(2).f32(1.5f).f32(-2.0f).i32(2).f32(0.0f).f32(1e30f).str());
  const Matrix f = read_vectors(dir / "x.fvecs");
  REQUIRE(f.rows == 2);
  CHECK(f.values == std::vector<float>{1.5f, -2.0f, 0.0f, 1e30f});

  testing::write_file(dir / "x.ibin", Bytes().le32(2).le32(1).i32(-7).i32(2147483647).str());
  const IntMatrix i = read_int_vectors(dir / "x.ibin");
  REQUIRE(i.rows == 2);
  CHECK(i.cols == 1);
  CHECK(i.values == std::vector<std::int32_t>{-7, 2147483647});
}

TEST_CASE("IDX images: plain and gzip, names by extension") {
  TempDir dir;
  const std::string images = idx_images().str();
  for (const char* name : {"images.idx", "train-images-idx3-ubyte"}) {
    CAPTURE(name);
    testing::write_file(dir / name, images);
    check_pixels(read_vectors(dir / name));
  }
  testing::write_gzip_file(dir / "train-images-idx3-ubyte.gz", images);
  check_pixels(read_vectors(dir / "train-images-idx3-ubyte.gz"));
  check_pixels(read_vectors(dir / "train-images-idx3-ubyte.gz", 1), 1);
}

TEST_CASE("IDX labels: one int column") {
  TempDir dir;
  const std::string labels = Bytes().be32(0x00000801).be32(5).u8(9).u8(0).u8(3).u8(255).u8(1).str();
  testing::write_file(dir / "labels-idx1-ubyte", labels);
  testing::write_gzip_file(dir / "labels-idx1-ubyte.gz", labels);
  for (const char* name : {"labels-idx1-ubyte", "labels-idx1-ubyte.gz"}) {
    CAPTURE(name);
    const IntMatrix l = read_int_vectors(dir / name);
    REQUIRE(l.rows == 5);
    CHECK(l.cols == 1);
    CHECK(l.values == std::vector<std::int32_t>{9, 0, 3, 255, 1});
    CHECK(read_int_vectors(dir / name, 2).values == std::vector<std::int32_t>{9, 0});
  }
  // A labels file read as vectors is a caller mistake, not a damaged file.
  CHECK_THROWS_AS(read_vectors(dir / "labels-idx1-ubyte"), InvalidArgument);
  CHECK_THROWS_AS(read_vectors(dir / "labels-idx1-ubyte.gz"), InvalidArgument);
}

// A .npy preamble as NumPy writes it (or as an older/other writer might).
std::string npy(int major, std::string dict, std::size_t pad_to = 64) {
  Bytes b;
  b.text("\x93NUMPY").u8(static_cast<std::uint8_t>(major)).u8(0);
  const std::size_t fixed = major == 1 ? 10 : 12;
  while ((fixed + dict.size() + 1) % pad_to != 0) dict.push_back(' ');
  dict.push_back('\n');
  if (major == 1) {
    b.le16(static_cast<std::uint16_t>(dict.size()));
  } else {
    b.le32(static_cast<std::uint32_t>(dict.size()));
  }
  b.text(dict);
  return b.str();
}

TEST_CASE("npy: versions 1.0, 2.0 and 3.0 and header spellings") {
  TempDir dir;
  Bytes body;
  for (float v : {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}) body.f32(v);
  const std::vector<float> expected{1, 2, 3, 4, 5, 6};
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  testing::write_file(dir / "v1.npy", npy(1, dict) + body.str());
  testing::write_file(dir / "v2.npy", npy(2, dict) + body.str());
  testing::write_file(dir / "v3.npy", npy(3, dict) + body.str());
  // Key order, double quotes, no trailing comma, Python 2 longs, unpadded header.
  testing::write_file(
      dir / "odd.npy",
      npy(1, "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}", 1) + body.str());
  for (const char* name : {"v1.npy", "v2.npy", "v3.npy", "odd.npy"}) {
    CAPTURE(name);
    const Matrix m = read_vectors(dir / name);
    CHECK(m.rows == 2);
    CHECK(m.cols == 3);
    CHECK(m.values == expected);
  }
}

TEST_CASE("npy: uint8 vectors are widened, int32 ids read as ints") {
  TempDir dir;
  Bytes pixels;
  for (const auto& row : kPixels) {
    for (std::uint8_t v : row) pixels.u8(v);
  }
  testing::write_file(dir / "u8.npy",
                      npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 4), }") + pixels.str());
  check_pixels(read_vectors(dir / "u8.npy"));

  testing::write_file(dir / "ids.npy", npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 3), }") +
                                           Bytes().i32(-1).i32(0).i32(123456789).str());
  CHECK(read_int_vectors(dir / "ids.npy").values == std::vector<std::int32_t>{-1, 0, 123456789});
}

}  // namespace
}  // namespace quiver
