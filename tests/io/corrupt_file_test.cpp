// Hostile and damaged inputs: every reader must throw the right quiver::Error subclass
// with the file name (and the byte offset where there is one), never read out of bounds
// and never allocate what a header claims before checking it against the file.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "io/io_test_support.h"
#include "quiver/error.h"
#include "quiver/vector_io.h"
#include "support/synthetic.h"

namespace quiver {
namespace {

using testing::Bytes;
using testing::contains;
using testing::message_of;
using testing::TempDir;

// Reading `path` must throw CorruptFile naming the file and containing `needle`.
void check_corrupt_floats(const std::filesystem::path& path, std::string_view needle) {
  CAPTURE(path);
  const std::string message = message_of<CorruptFile>([&] { read_vectors(path); });
  CAPTURE(message);
  CHECK(contains(message, path.string()));
  CHECK(contains(message, needle));
}

void check_corrupt_ints(const std::filesystem::path& path, std::string_view needle) {
  CAPTURE(path);
  const std::string message = message_of<CorruptFile>([&] { read_int_vectors(path); });
  CAPTURE(message);
  CHECK(contains(message, path.string()));
  CHECK(contains(message, needle));
}

std::string npy_file(std::string dict, std::string_view body) {
  while ((10 + dict.size() + 1) % 64 != 0) dict.push_back(' ');
  dict.push_back('\n');
  return Bytes()
             .text("\x93NUMPY")
             .u8(1)
             .u8(0)
             .le16(static_cast<std::uint16_t>(dict.size()))
             .text(dict)
             .str() +
         std::string(body);
}

TEST_CASE("missing files are NotFound, naming the path") {
  TempDir dir;
  for (const char* name : {"none.fvecs", "none.fbin", "none.npy", "none-ubyte", "none.gz"}) {
    CAPTURE(name);
    CHECK(contains(message_of<NotFound>([&] { read_vectors(dir / name); }), name));
  }
  CHECK(contains(message_of<NotFound>([&] { read_int_vectors(dir / "none.ivecs"); }), "none.ivecs"));
  CHECK(contains(message_of<NotFound>([&] { read_ann_hdf5(dir / "none.hdf5"); }), "none.hdf5"));
  CHECK_THROWS_AS(read_vectors(dir / "no-dir" / "x.fbin"), NotFound);
}

TEST_CASE("a directory is an IoError, not a crash") {
  TempDir dir;
  std::filesystem::create_directories(dir / "d.fvecs");
  CHECK(contains(message_of<IoError>([&] { read_vectors(dir / "d.fvecs"); }), "d.fvecs"));
}

TEST_CASE("unknown extensions are InvalidArgument listing the supported ones") {
  TempDir dir;
  testing::write_file(dir / "x.csv", "1,2,3\n");
  const std::string message = message_of<InvalidArgument>([&] { read_vectors(dir / "x.csv"); });
  CHECK(contains(message, "x.csv"));
  CHECK(contains(message, ".fvecs"));
  CHECK(contains(message, ".npy"));
  CHECK(contains(message_of<InvalidArgument>([&] { read_int_vectors(dir / "x.csv"); }), ".ivecs"));
  // Right family, wrong function: the message points at the other reader.
  CHECK(contains(message_of<InvalidArgument>([&] { read_vectors(dir / "x.ivecs"); }), "read_int_vectors"));
  CHECK(contains(message_of<InvalidArgument>([&] { read_int_vectors(dir / "x.fvecs"); }), "read_vectors"));
  // Only IDX is read gzipped; a compressed fvecs must not be parsed as IDX.
  testing::write_gzip_file(dir / "x.fvecs.gz", "");
  CHECK(contains(message_of<InvalidArgument>([&] { read_vectors(dir / "x.fvecs.gz"); }), "gzipped IDX only"));
}

TEST_CASE("truncated headers") {
  TempDir dir;
  testing::write_file(dir / "a.fvecs", Bytes().u8(4).u8(0).str());
  check_corrupt_floats(dir / "a.fvecs", "truncated at byte 0");
  testing::write_file(dir / "a.fbin", Bytes().le32(3).u8(4).str());
  check_corrupt_floats(dir / "a.fbin", "truncated at byte 4");
  testing::write_file(dir / "a.u8bin", "");
  check_corrupt_floats(dir / "a.u8bin", "truncated at byte 0");
  testing::write_file(dir / "a.ibin", Bytes().le32(3).str());
  check_corrupt_ints(dir / "a.ibin", "truncated at byte 4");
  testing::write_file(dir / "a.npy", "\x93NUM");
  check_corrupt_floats(dir / "a.npy", "truncated at byte 0");
  // The header length promises 118 bytes of dict text; only 5 follow.
  testing::write_file(dir / "b.npy", Bytes().text("\x93NUMPY").u8(1).u8(0).le16(118).text("{'des").str());
  check_corrupt_floats(dir / "b.npy", "truncated at byte 10");
  testing::write_file(dir / "a-ubyte", Bytes().be32(0x803).be32(3).u8(0).u8(28).str());
  check_corrupt_floats(dir / "a-ubyte", "truncated at byte 8");
  testing::write_gzip_file(dir / "a.gz", Bytes().be32(0x803).be32(3).u8(0).u8(28).str());
  check_corrupt_floats(dir / "a.gz", "truncated at byte 10");
}

TEST_CASE("truncated bodies, every format") {
  TempDir dir;
  const Matrix m = testing::uniform_vectors(5, 4, 30);
  const IntMatrix ids = testing::random_ints(5, 4, 31);

  // Written whole, then cut: 5 rows of 4 values, cut inside row 3 or the data block.
  write_vectors(dir / "x.fvecs", m);
  std::filesystem::resize_file(dir / "x.fvecs", 3 * 20 + 10);
  check_corrupt_floats(dir / "x.fvecs",
                       "truncated at byte 64: row 3 declares 4 float32 values (16 bytes) but only 6");

  write_int_vectors(dir / "x.ivecs", ids);
  std::filesystem::resize_file(dir / "x.ivecs", 3 * 20 + 2);
  check_corrupt_ints(dir / "x.ivecs", "truncated at byte 60");

  write_vectors(dir / "x.fbin", m);
  std::filesystem::resize_file(dir / "x.fbin", 8 + 50);
  check_corrupt_floats(dir / "x.fbin", "truncated at byte 8");

  write_int_vectors(dir / "x.ibin", ids);
  std::filesystem::resize_file(dir / "x.ibin", 8 + 79);
  check_corrupt_ints(dir / "x.ibin", "truncated at byte 8");

  write_vectors(dir / "x.npy", m);
  std::filesystem::resize_file(dir / "x.npy", 128 + 40);
  check_corrupt_floats(dir / "x.npy", "truncated at byte 128");

  write_int_vectors(dir / "i.npy", ids);
  std::filesystem::resize_file(dir / "i.npy", 128 + 1);
  check_corrupt_ints(dir / "i.npy", "truncated at byte 128");

  testing::write_file(dir / "x.bvecs", Bytes().i32(3).u8(1).u8(2).u8(3).i32(3).u8(4).str());
  check_corrupt_floats(dir / "x.bvecs",
                       "truncated at byte 11: row 1 declares 3 uint8 values (3 bytes) but only 1");

  testing::write_file(dir / "x.u8bin", Bytes().le32(2).le32(3).u8(1).u8(2).u8(3).u8(4).str());
  check_corrupt_floats(dir / "x.u8bin", "truncated at byte 8");

  // IDX: 3 images of 2 x 2 need 12 bytes after the 16-byte header; 7 arrive.
  const std::string idx = Bytes().be32(0x803).be32(3).be32(2).be32(2).fill(7, 1).str();
  testing::write_file(dir / "x-ubyte", idx);
  check_corrupt_floats(dir / "x-ubyte", "truncated at byte 16");
  testing::write_gzip_file(dir / "x.gz", idx);
  check_corrupt_floats(dir / "x.gz", "truncated at byte 23");
  const std::string labels = Bytes().be32(0x801).be32(10).fill(4, 1).str();
  testing::write_gzip_file(dir / "l.gz", labels);
  check_corrupt_ints(dir / "l.gz", "truncated at byte 12");
}

TEST_CASE("a truncated or damaged gzip stream") {
  TempDir dir;
  Bytes idx;
  idx.be32(0x803).be32(200).be32(16).be32(16);
  std::mt19937 rng(32);
  for (int i = 0; i < 200 * 256; ++i) idx.u8(static_cast<std::uint8_t>(rng()));
  testing::write_gzip_file(dir / "whole.gz", idx.str());
  REQUIRE(read_vectors(dir / "whole.gz").rows == 200);
  const std::string compressed = testing::read_file(dir / "whole.gz");

  testing::write_file(dir / "cut.gz", compressed.substr(0, compressed.size() / 2));
  check_corrupt_floats(dir / "cut.gz", "truncated at byte");

  std::string damaged = compressed;
  for (std::size_t i = damaged.size() / 3; i < damaged.size() / 3 + 64; ++i)
    damaged[i] = static_cast<char>(~damaged[i]);
  testing::write_file(dir / "damaged.gz", damaged);
  check_corrupt_floats(dir / "damaged.gz", "at byte");

  // Only the CRC in the trailer is wrong: caught because the reader reads to the end.
  std::string bad_crc = compressed;
  bad_crc[bad_crc.size() - 8] = static_cast<char>(~bad_crc[bad_crc.size() - 8]);
  testing::write_file(dir / "crc.gz", bad_crc);
  check_corrupt_floats(dir / "crc.gz", "damaged gzip data");
}

TEST_CASE("fvecs rows with inconsistent dimensions") {
  TempDir dir;
  Bytes b;
  b.i32(2).f32(1).f32(2).i32(2).f32(3).f32(4).i32(3).f32(5).f32(6).f32(7).i32(2).f32(8).f32(9);
  testing::write_file(dir / "x.fvecs", b.str());
  check_corrupt_floats(dir / "x.fvecs",
                       "bad data at byte 24: row 2 declares dimension 3 but row 0 declared 2");
  // Same problem in the last, partial row: blamed on the dimension, not on truncation.
  testing::write_file(dir / "y.fvecs", Bytes().i32(2).f32(1).f32(2).i32(1).f32(3).str());
  check_corrupt_floats(dir / "y.fvecs", "bad data at byte 12: row 1 declares dimension 1");
}

TEST_CASE("dimension 0 or negative is rejected") {
  TempDir dir;
  testing::write_file(dir / "z.fvecs", Bytes().i32(0).i32(0).str());
  check_corrupt_floats(dir / "z.fvecs", "bad data at byte 0: row 0 declares dimension 0");
  testing::write_file(dir / "n.ivecs", Bytes().i32(-5).i32(1).str());
  check_corrupt_ints(dir / "n.ivecs", "row 0 declares dimension -5");
  testing::write_file(dir / "z.fbin", Bytes().le32(4).le32(0).str());
  check_corrupt_floats(dir / "z.fbin", "bad data at byte 4: dimension is 0");
  testing::write_file(dir / "z.npy",
                      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0), }", ""));
  check_corrupt_floats(dir / "z.npy", "dimension is 0");
  testing::write_file(dir / "z-ubyte", Bytes().be32(0x803).be32(1).be32(0).be32(5).str());
  check_corrupt_floats(dir / "z-ubyte", "bad data at byte 8: IDX dimension 1 is 0");
  testing::write_file(dir / "neg.npy",
                      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-4, 2), }", ""));
  check_corrupt_floats(dir / "neg.npy", "expected a non-negative integer");
}

// Each header claims far more than a machine could allocate (or, with sanitizers,
// than the allocator accepts): a reader that trusted it would die with bad_alloc,
// length_error or an ASan report instead of the CorruptFile checked here.
TEST_CASE("absurd row counts and dimensions do not allocate") {
  TempDir dir;
  const std::string kilobyte(1024 - 8, '\0');
  testing::write_file(dir / "huge.fbin", Bytes().le32(0xffffffffu).le32(0xffffffffu).str() + kilobyte);
  check_corrupt_floats(dir / "huge.fbin",
                       "truncated at byte 8: the header's 4294967295 rows of 4294967295 float32");
  testing::write_file(dir / "huge.u8bin", Bytes().le32(1u << 31).le32(1u << 20).str() + kilobyte);
  check_corrupt_floats(dir / "huge.u8bin", "truncated at byte 8");
  testing::write_file(dir / "huge.ibin", Bytes().le32(1u << 31).le32(1u << 20).str() + kilobyte);
  check_corrupt_ints(dir / "huge.ibin", "truncated at byte 8");
  testing::write_file(dir / "huge.fvecs", Bytes().i32(0x7fffffff).str() + kilobyte);
  check_corrupt_floats(dir / "huge.fvecs", "row 0 declares 2147483647 float32 values");
  testing::write_file(
      dir / "huge.npy",
      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 4096), }",
               kilobyte));
  check_corrupt_floats(dir / "huge.npy", "truncated at byte 128");
  testing::write_file(
      dir / "overflow.npy",
      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1), }", ""));
  check_corrupt_floats(dir / "overflow.npy", "overflows");
  const std::string idx_header =
      Bytes().be32(0x803).be32(0xffffffffu).be32(0xffffffffu).be32(0xffffffffu).str();
  testing::write_file(dir / "huge-ubyte", idx_header + kilobyte);
  check_corrupt_floats(dir / "huge-ubyte", "truncated at byte 16");
  testing::write_gzip_file(dir / "huge.gz", idx_header + kilobyte);
  check_corrupt_floats(dir / "huge.gz", "bad data at byte 4");
  // Under the gzip cap but still far beyond the data: grows with the data, then fails
  // where the data ends.
  testing::write_gzip_file(dir / "big.gz",
                           Bytes().be32(0x803).be32(1u << 20).be32(32).be32(32).str() + kilobyte);
  check_corrupt_floats(dir / "big.gz", "truncated at byte 1032");
}

TEST_CASE("bad magic numbers") {
  TempDir dir;
  testing::write_file(dir / "x-ubyte", Bytes().be32(0x12345678).be32(1).be32(1).be32(1).u8(0).str());
  check_corrupt_floats(dir / "x-ubyte", "bad data at byte 0: bad magic 0x12345678");
  testing::write_gzip_file(dir / "x.gz", Bytes().be32(0x12345678).be32(1).be32(1).be32(1).u8(0).str());
  check_corrupt_floats(dir / "x.gz", "bad magic 0x12345678");
  // IDX float data (type 0x0d) is valid IDX but not supported.
  testing::write_file(dir / "f-ubyte", Bytes().be32(0x00000d02).be32(1).be32(1).f32(1).str());
  check_corrupt_floats(dir / "f-ubyte", "bad data at byte 2: IDX element type 0x0000000d");
  testing::write_file(dir / "x.npy", std::string("\x93NUMPZ\x01\x00", 8) + std::string(100, ' '));
  check_corrupt_floats(dir / "x.npy", "bad data at byte 0: bad magic");
  testing::write_file(dir / "v9.npy", std::string("\x93NUMPY\x09\x00", 8) + std::string(100, ' '));
  check_corrupt_floats(dir / "v9.npy", "bad data at byte 6: npy format version 9.0");
}

TEST_CASE("npy: wrong dtype, Fortran order, wrong rank, broken header") {
  TempDir dir;
  const std::string body(64, '\0');
  testing::write_file(dir / "f8.npy",
                      npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 4), }", body));
  check_corrupt_floats(dir / "f8.npy",
                       "bad data at byte 10: dtype '<f8' is not supported here; expected '<f4' or '|u1'");
  testing::write_file(dir / "be.npy", npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 4), }",
                                               body.substr(32)));
  check_corrupt_floats(dir / "be.npy", "dtype '>f4'");
  testing::write_file(dir / "f4.npy", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
                                               body.substr(32)));
  check_corrupt_ints(dir / "f4.npy", "dtype '<f4' is not supported here; expected '<i4'");
  testing::write_file(
      dir / "fortran.npy",
      npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 4), }", body.substr(32)));
  check_corrupt_floats(dir / "fortran.npy", "fortran_order is True");
  testing::write_file(
      dir / "rank3.npy",
      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", body.substr(32)));
  check_corrupt_floats(dir / "rank3.npy", "shape has 3 dimensions; expected 2");
  testing::write_file(dir / "rank1.npy",
                      npy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (8,), }", body.substr(32)));
  check_corrupt_ints(dir / "rank1.npy", "shape has 1 dimensions");
  testing::write_file(
      dir / "struct.npy",
      npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 4), }", body.substr(32)));
  check_corrupt_floats(dir / "struct.npy", "structured dtypes");
  // The broken key sits 17 bytes into the dict text, which starts at byte 10.
  testing::write_file(
      dir / "garbage.npy",
      npy_file("{'descr': '<f4', 'fo@tran_order': False, 'shape': (2, 4), }", body.substr(32)));
  check_corrupt_floats(dir / "garbage.npy",
                       "bad data at byte 27: npy header: unexpected key 'fo@tran_order'");
  testing::write_file(dir / "nokey.npy", npy_file("{'descr': '<f4', 'shape': (2, 4), }", body.substr(32)));
  check_corrupt_floats(dir / "nokey.npy", "lacks one of");
}

TEST_CASE("trailing bytes after the declared data") {
  TempDir dir;
  write_vectors(dir / "x.fbin", testing::uniform_vectors(3, 2, 33));
  testing::write_file(dir / "y.fbin", testing::read_file(dir / "x.fbin") + "junk");
  check_corrupt_floats(dir / "y.fbin", "bad data at byte 32: 4 unexpected bytes");
  testing::write_file(dir / "y-ubyte", Bytes().be32(0x801).be32(2).u8(1).u8(2).u8(3).str());
  check_corrupt_ints(dir / "y-ubyte", "bad data at byte 10: 1 unexpected bytes");
  testing::write_gzip_file(dir / "y.gz", Bytes().be32(0x801).be32(2).u8(1).u8(2).u8(3).str());
  check_corrupt_ints(dir / "y.gz", "bad data at byte 10: unexpected data");
  // A prefix read never looks at the tail, so it succeeds.
  CHECK(read_int_vectors(dir / "y.gz", 1).values == std::vector<std::int32_t>{1});
}

}  // namespace
}  // namespace quiver
