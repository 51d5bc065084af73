// Write -> read round trips for every writable format, max_rows, and the writers'
// atomic-replace guarantees.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "io/io_test_support.h"
#include "quiver/error.h"
#include "quiver/vector_io.h"
#include "support/synthetic.h"

namespace quiver {
namespace {

using testing::contains;
using testing::message_of;
using testing::TempDir;

TEST_CASE("float formats round-trip exactly") {
  const Matrix original = testing::uniform_vectors(257, 33, 11, -1e6f, 1e6f);
  TempDir dir;
  for (const char* name : {"x.fvecs", "x.fbin", "x.npy", "UPPER.FVECS"}) {
    CAPTURE(name);
    const auto path = dir / name;
    write_vectors(path, original);
    const Matrix back = read_vectors(path);
    CHECK(back.rows == original.rows);
    CHECK(back.cols == original.cols);
    CHECK(back.values == original.values);
    CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  }
}

TEST_CASE("int formats round-trip exactly") {
  const IntMatrix original = testing::random_ints(101, 17, 12);
  TempDir dir;
  for (const char* name : {"x.ivecs", "x.ibin", "x.npy"}) {
    CAPTURE(name);
    const auto path = dir / name;
    write_int_vectors(path, original);
    const IntMatrix back = read_int_vectors(path);
    CHECK(back.rows == original.rows);
    CHECK(back.cols == original.cols);
    CHECK(back.values == original.values);
  }
}

TEST_CASE("file sizes match the formats' layouts") {
  const Matrix m = testing::uniform_vectors(10, 3, 13);
  TempDir dir;
  write_vectors(dir / "x.fvecs", m);
  write_vectors(dir / "x.fbin", m);
  write_vectors(dir / "x.npy", m);
  CHECK(std::filesystem::file_size(dir / "x.fvecs") == 10 * (4 + 3 * 4));
  CHECK(std::filesystem::file_size(dir / "x.fbin") == 8 + 10 * 3 * 4);
  // NumPy pads its preamble to a multiple of 64 bytes; this one takes two blocks.
  CHECK(std::filesystem::file_size(dir / "x.npy") == 128 + 10 * 3 * 4);
  const std::string npy = testing::read_file(dir / "x.npy");
  CHECK(npy.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  CHECK(contains(npy.substr(0, 128), "'descr': '<f4'"));
  CHECK(contains(npy.substr(0, 128), "'shape': (10, 3)"));
  CHECK(npy[127] == '\n');
}

TEST_CASE("max_rows reads a prefix of every format") {
  const Matrix floats = testing::uniform_vectors(50, 8, 14);
  const IntMatrix ints = testing::random_ints(50, 8, 15);
  TempDir dir;
  for (const char* name : {"x.fvecs", "x.fbin", "x.npy"}) {
    CAPTURE(name);
    write_vectors(dir / name, floats);
    for (std::size_t max_rows : {0, 1, 7, 50, 51, 1000}) {
      CAPTURE(max_rows);
      const Matrix part = read_vectors(dir / name, max_rows);
      const std::size_t expected = std::min<std::size_t>(max_rows, 50);
      REQUIRE(part.rows == expected);
      CHECK(part.cols == 8);
      CHECK(std::equal(part.values.begin(), part.values.end(), floats.values.begin()));
    }
  }
  for (const char* name : {"x.ivecs", "x.ibin", "x.npy"}) {
    CAPTURE(name);
    write_int_vectors(dir / name, ints);
    const IntMatrix part = read_int_vectors(dir / name, 3);
    REQUIRE(part.rows == 3);
    CHECK(std::equal(part.values.begin(), part.values.end(), ints.values.begin()));
  }
}

TEST_CASE("max_rows does not read past the rows it returns") {
  // Rows after the first two are damaged (a wrong dimension); a prefix read must not see them.
  TempDir dir;
  testing::Bytes bytes;
  for (int r = 0; r < 2; ++r) bytes.i32(2).f32(1.0f).f32(2.0f);
  bytes.i32(7).f32(3.0f).f32(4.0f);
  testing::write_file(dir / "x.fvecs", bytes.str());
  CHECK(read_vectors(dir / "x.fvecs", 2).rows == 2);
  CHECK_THROWS_AS(read_vectors(dir / "x.fvecs"), CorruptFile);
}

TEST_CASE("empty matrices round-trip") {
  TempDir dir;
  Matrix empty(0, 5);
  write_vectors(dir / "e.fbin", empty);
  write_vectors(dir / "e.npy", empty);
  write_vectors(dir / "e.fvecs", empty);
  const Matrix bin = read_vectors(dir / "e.fbin");
  CHECK(bin.rows == 0);
  CHECK(bin.cols == 5);
  const Matrix npy = read_vectors(dir / "e.npy");
  CHECK(npy.rows == 0);
  CHECK(npy.cols == 5);
  // fvecs stores the dimension per row, so an empty file has none.
  CHECK(std::filesystem::file_size(dir / "e.fvecs") == 0);
  CHECK(read_vectors(dir / "e.fvecs").rows == 0);
}

TEST_CASE("writers replace an existing file") {
  TempDir dir;
  const auto path = dir / "x.fbin";
  write_vectors(path, testing::uniform_vectors(100, 4, 16));
  const Matrix second = testing::uniform_vectors(3, 4, 17);
  write_vectors(path, second);
  CHECK(read_vectors(path).values == second.values);
}

TEST_CASE("a failed write leaves the previous file intact") {
  TempDir dir;
  const auto path = dir / "x.fvecs";
  const Matrix first = testing::uniform_vectors(20, 4, 18);
  write_vectors(path, first);

  SUBCASE("rename fails: the target became a non-empty directory") {
    const auto blocked = dir / "blocked.fvecs";
    std::filesystem::create_directories(blocked / "child");
    const std::string message = message_of<IoError>([&] { write_vectors(blocked, first); });
    CHECK(contains(message, "blocked.fvecs"));
    CHECK_FALSE(std::filesystem::exists(blocked.string() + ".tmp"));
    CHECK(std::filesystem::is_directory(blocked / "child"));
  }
  SUBCASE("the temporary file cannot be created") {
    std::filesystem::create_directories(path.string() + ".tmp" + "/occupied");
    const std::string message =
        message_of<IoError>([&] { write_vectors(path, testing::uniform_vectors(5, 4, 19)); });
    CHECK(contains(message, "x.fvecs.tmp"));
    CHECK(read_vectors(path).values == first.values);
  }
  SUBCASE("invalid input is rejected before the file is touched") {
    Matrix no_dims(3, 0);
    CHECK_THROWS_AS(write_vectors(path, no_dims), InvalidArgument);
    CHECK(read_vectors(path).values == first.values);
  }
}

TEST_CASE("writers reject what their format cannot hold") {
  TempDir dir;
  const Matrix m = testing::uniform_vectors(2, 2, 20);
  const std::string message = message_of<InvalidArgument>([&] { write_vectors(dir / "x.bvecs", m); });
  CHECK(contains(message, "x.bvecs"));
  CHECK(contains(message, ".fvecs, .fbin, .npy"));
  CHECK_THROWS_AS(write_vectors(dir / "x.ivecs", m), InvalidArgument);
  CHECK_THROWS_AS(write_int_vectors(dir / "x.fvecs", testing::random_ints(2, 2, 21)), InvalidArgument);
  CHECK_FALSE(std::filesystem::exists(dir / "x.bvecs"));
  CHECK_THROWS_AS(write_vectors(dir / "missing-dir" / "x.fbin", m), IoError);
}

}  // namespace
}  // namespace quiver
