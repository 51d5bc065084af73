// read_ann_hdf5 against files written here with the HDF5 C API in the ann-benchmarks
// layout (as h5py writes it), plus the ways such a file can be broken.
#include <doctest/doctest.h>
#include <hdf5.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/io_test_support.h"
#include "quiver/error.h"
#include "quiver/vector_io.h"
#include "support/synthetic.h"

namespace quiver {
namespace {

using testing::contains;
using testing::message_of;
using testing::TempDir;

// Writes one HDF5 file; each call adds a dataset or attribute. Test-only code, so
// failures are REQUIREd rather than wrapped.
class Hdf5Writer {
 public:
  explicit Hdf5Writer(const std::filesystem::path& path)
      : file_(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    REQUIRE(file_ >= 0);
  }
  Hdf5Writer(const Hdf5Writer&) = delete;
  Hdf5Writer& operator=(const Hdf5Writer&) = delete;
  ~Hdf5Writer() { H5Fclose(file_); }

  void dataset(const char* name, hid_t file_type, hid_t memory_type, std::vector<hsize_t> dims,
               const void* data) {
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t set = H5Dcreate2(file_, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(set >= 0);
    REQUIRE(H5Dwrite(set, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(set);
    H5Sclose(space);
  }

  // A dataset whose values live in another file (HDF5 "external storage").
  void external_dataset(const char* name, const char* raw_file, hsize_t rows, hsize_t cols) {
    const hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    REQUIRE(H5Pset_external(plist, raw_file, 0, rows * cols * sizeof(float)) >= 0);
    const hsize_t dims[2] = {rows, cols};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t set = H5Dcreate2(file_, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    REQUIRE(set >= 0);
    H5Dclose(set);
    H5Sclose(space);
    H5Pclose(plist);
  }

  // h5py writes Python str attributes as variable-length UTF-8 strings.
  void variable_string(const char* name, const char* value) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    write_attribute(name, type, &value);
    H5Tclose(type);
  }

  // numpy bytes ('S16') arrive as fixed-length, NUL-padded strings.
  void fixed_string(const char* name, const std::string& value, std::size_t size) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, size);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    std::vector<char> padded(size, '\0');
    std::memcpy(padded.data(), value.data(), value.size());
    write_attribute(name, type, padded.data());
    H5Tclose(type);
  }

 private:
  void write_attribute(const char* name, hid_t type, const void* data) {
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attribute = H5Acreate2(file_, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(attribute >= 0);
    REQUIRE(H5Awrite(attribute, type, data) >= 0);
    H5Aclose(attribute);
    H5Sclose(space);
  }

  hid_t file_;
};

struct Reference {
  Matrix train = testing::uniform_vectors(100, 8, 40);
  Matrix test = testing::uniform_vectors(10, 8, 41);
  std::vector<std::int64_t> neighbors;
  Matrix distances = testing::uniform_vectors(10, 5, 42, 0.0f, 3.0f);

  Reference() {
    for (std::int64_t i = 0; i < 50; ++i) neighbors.push_back((i * 37) % 100);
  }

  void write_train(Hdf5Writer& out) const {
    out.dataset("train", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {100, 8}, train.values.data());
  }
  // Stored as float64 the way some converters leave it; reading converts back exactly.
  void write_test_as_double(Hdf5Writer& out) const {
    const std::vector<double> wide(test.values.begin(), test.values.end());
    out.dataset("test", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {10, 8}, wide.data());
  }
};

TEST_CASE("a full ann-benchmarks file: float64 test, int64 neighbors, variable-length distance") {
  TempDir dir;
  const Reference ref;
  {
    Hdf5Writer out(dir / "full.hdf5");
    ref.write_train(out);
    ref.write_test_as_double(out);
    out.dataset("neighbors", H5T_STD_I64LE, H5T_NATIVE_INT64, {10, 5}, ref.neighbors.data());
    out.dataset("distances", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {10, 5}, ref.distances.values.data());
    out.variable_string("distance", "angular");
  }
  const AnnDataset data = read_ann_hdf5(dir / "full.hdf5");
  CHECK(data.train.rows == 100);
  CHECK(data.train.cols == 8);
  CHECK(data.train.values == ref.train.values);
  CHECK(data.test.rows == 10);
  CHECK(data.test.values == ref.test.values);
  REQUIRE(data.neighbors.rows == 10);
  REQUIRE(data.neighbors.cols == 5);
  for (std::size_t i = 0; i < ref.neighbors.size(); ++i) CHECK(data.neighbors.values[i] == ref.neighbors[i]);
  CHECK(data.distances.values == ref.distances.values);
  CHECK(data.distance == "angular");
}

TEST_CASE("int32 neighbors, fixed-length distance, no distances dataset") {
  TempDir dir;
  const Reference ref;
  const std::vector<std::int32_t> narrow(ref.neighbors.begin(), ref.neighbors.end());
  {
    Hdf5Writer out(dir / "fixed.h5");
    ref.write_train(out);
    out.dataset("test", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {10, 8}, ref.test.values.data());
    out.dataset("neighbors", H5T_STD_I32LE, H5T_NATIVE_INT32, {10, 5}, narrow.data());
    out.fixed_string("distance", "euclidean", 16);
  }
  const AnnDataset data = read_ann_hdf5(dir / "fixed.h5");
  CHECK(data.neighbors.values == narrow);
  CHECK(data.distances.values.empty());
  CHECK(data.distance == "euclidean");
}

TEST_CASE("train and test only") {
  TempDir dir;
  const Reference ref;
  {
    Hdf5Writer out(dir / "bare.hdf5");
    ref.write_train(out);
    ref.write_test_as_double(out);
    out.variable_string("distance", "dot");
  }
  const AnnDataset data = read_ann_hdf5(dir / "bare.hdf5");
  CHECK(data.neighbors.values.empty());
  CHECK(data.distances.values.empty());
  CHECK(data.distance == "dot");
}

// Each broken file must be CorruptFile naming the file and the problem.
void check_corrupt(const std::filesystem::path& path, std::string_view needle) {
  const std::string message = message_of<CorruptFile>([&] { read_ann_hdf5(path); });
  CAPTURE(message);
  CHECK(contains(message, path.string()));
  CHECK(contains(message, needle));
}

TEST_CASE("broken ann-benchmarks files") {
  TempDir dir;
  const Reference ref;
  const auto path = dir / "broken.hdf5";

  SUBCASE("missing train") {
    {
      Hdf5Writer out(path);
      ref.write_test_as_double(out);
      out.variable_string("distance", "euclidean");
    }
    check_corrupt(path, "missing dataset 'train'");
  }
  SUBCASE("missing distance attribute") {
    {
      Hdf5Writer out(path);
      ref.write_train(out);
      ref.write_test_as_double(out);
    }
    check_corrupt(path, "missing root attribute 'distance'");
  }
  SUBCASE("train and test dimensions differ") {
    {
      Hdf5Writer out(path);
      ref.write_train(out);
      out.dataset("test", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {20, 4}, ref.test.values.data());
      out.variable_string("distance", "euclidean");
    }
    check_corrupt(path, "'train' has dimension 8 but 'test' has 4");
  }
  SUBCASE("neighbour ids beyond int32") {
    std::vector<std::int64_t> ids = ref.neighbors;
    ids[17] = std::int64_t{1} << 40;
    {
      Hdf5Writer out(path);
      ref.write_train(out);
      ref.write_test_as_double(out);
      out.dataset("neighbors", H5T_STD_I64LE, H5T_NATIVE_INT64, {10, 5}, ids.data());
      out.variable_string("distance", "euclidean");
    }
    check_corrupt(path, "id 1099511627776 at row 3, outside the int32 range");
  }
  SUBCASE("neighbors stored as floats") {
    {
      Hdf5Writer out(path);
      ref.write_train(out);
      ref.write_test_as_double(out);
      out.dataset("neighbors", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {10, 5}, ref.distances.values.data());
      out.variable_string("distance", "euclidean");
    }
    check_corrupt(path, "expected integer ids");
  }
  SUBCASE("one-dimensional train") {
    {
      Hdf5Writer out(path);
      out.dataset("train", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {800}, ref.train.values.data());
      ref.write_test_as_double(out);
      out.variable_string("distance", "euclidean");
    }
    check_corrupt(path, "dataset 'train' has 1 dimensions; expected 2");
  }
  SUBCASE("distance is not a string") {
    {
      Hdf5Writer out(path);
      ref.write_train(out);
      ref.write_test_as_double(out);
    }
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attribute = H5Acreate2(file, "distance", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    const std::int32_t value = 2;
    H5Awrite(attribute, H5T_NATIVE_INT32, &value);
    H5Aclose(attribute);
    H5Sclose(space);
    H5Fclose(file);
    check_corrupt(path, "'distance' is not a string");
  }
  SUBCASE("train stored in another file") {
    {
      Hdf5Writer out(path);
      out.external_dataset("train", (dir / "elsewhere.raw").c_str(), 100, 8);
      ref.write_test_as_double(out);
      out.variable_string("distance", "euclidean");
    }
    check_corrupt(path, "dataset 'train' keeps its data outside the file");
  }
  SUBCASE("truncated file") {
    {
      Hdf5Writer out(path);
      ref.write_train(out);
      ref.write_test_as_double(out);
      out.variable_string("distance", "euclidean");
    }
    std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
    check_corrupt(path, "broken.hdf5");
  }
  SUBCASE("not an HDF5 file at all") {
    testing::write_file(path, std::string(4096, 'x'));
    check_corrupt(path, "not a readable HDF5 file");
  }
}

}  // namespace
}  // namespace quiver
