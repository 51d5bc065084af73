// read_ann_hdf5: the ann-benchmarks file layout (train / test / neighbors / distances
// datasets and a root `distance` attribute) read through the HDF5 C API.
#include <fcntl.h>
#include <hdf5.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "engine/io/file_error.h"
#include "engine/io/hdf5_handle.h"
#include "engine/io/sizes.h"
#include "engine/io/unique_fd.h"
#include "quiver/vector_io.h"

namespace quiver {
namespace {

using io::Hdf5Handle;

// Debian (and most distributions) build libhdf5 without --enable-threadsafe, so two
// threads inside the library at once corrupt its global state; quiver serialises its
// own calls. The error-printing switch below is per-library state for the same reason.
std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// HDF5 prints its error stack to stderr by default; quiver reports errors by exception
// instead, so printing is off while we are inside the library and restored after.
class QuietHdf5Errors {
 public:
  QuietHdf5Errors() {
    H5Eget_auto2(H5E_DEFAULT, &old_func_, &old_data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  QuietHdf5Errors(const QuietHdf5Errors&) = delete;
  QuietHdf5Errors& operator=(const QuietHdf5Errors&) = delete;
  ~QuietHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, old_func_, old_data_); }

 private:
  H5E_auto2_t old_func_ = nullptr;
  void* old_data_ = nullptr;
};

// The deepest entry of the error stack names the actual cause ("truncated file: eof =
// ...") rather than the API call that failed.
std::string hdf5_error() {
  std::string deepest;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* entry, void* out) -> herr_t {
        if (entry->desc != nullptr && entry->desc[0] != '\0') *static_cast<std::string*>(out) = entry->desc;
        return 0;
      },
      &deepest);
  return deepest.empty() ? "unknown HDF5 error" : deepest;
}

// Deflate, the usual HDF5 filter, cannot compress better than about 1032:1; a chunked
// dataset declaring more than that over the whole file is lying about its shape.
constexpr std::uint64_t kMaxCompressionRatio = 1032;

class AnnFile {
 public:
  explicit AnnFile(const std::filesystem::path& path) : path_(path) {
    // Open once ourselves for errno: HDF5 reports a missing file and a damaged one alike.
    io::UniqueFd probe(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!probe) io::throw_open_error(path, errno);
    std::error_code ec;
    file_size_ = std::filesystem::file_size(path, ec);
    if (ec) throw io::io_error(path, "stat", ec.value());
    file_ = Hdf5Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file_) throw fail("not a readable HDF5 file: " + hdf5_error());
  }

  CorruptFile fail(const std::string& detail) const { return io::corrupt_file(path_, detail); }

  bool has(const char* name) const {
    const htri_t exists = H5Lexists(file_.get(), name, H5P_DEFAULT);
    if (exists < 0) throw fail(std::string("cannot look up '") + name + "': " + hdf5_error());
    return exists > 0;
  }

  // Reads a 2-D numeric dataset, letting HDF5 convert element types (float64 -> float32)
  // after checking the declared shape against what the file can hold.
  template <typename T>
  BasicMatrix<T> read_matrix(const char* name, hid_t memory_type) const {
    const std::string what = std::string("dataset '") + name + "'";
    Hdf5Handle dataset(H5Dopen2(file_.get(), name, H5P_DEFAULT), H5Dclose);
    if (!dataset) throw fail("cannot open " + what + ": " + hdf5_error());
    Hdf5Handle type(H5Dget_type(dataset.get()), H5Tclose);
    Hdf5Handle space(H5Dget_space(dataset.get()), H5Sclose);
    if (!type || !space) throw fail("cannot inspect " + what + ": " + hdf5_error());
    const H5T_class_t type_class = H5Tget_class(type.get());
    if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) throw fail(what + " is not numeric");
    if (H5Tget_class(memory_type) == H5T_INTEGER && type_class != H5T_INTEGER) {
      throw fail(what + " holds floating-point values; expected integer ids");
    }
    if (H5Sget_simple_extent_ndims(space.get()) != 2) {
      throw fail(what + " has " + std::to_string(H5Sget_simple_extent_ndims(space.get())) +
                 " dimensions; expected 2 (rows, dimension)");
    }
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    if (dims[1] == 0) throw fail(what + " has dimension 0");
    check_declared_size(dataset.get(), what, io::saturating_mul(dims[0], dims[1], H5Tget_size(type.get())));

    BasicMatrix<T> out(dims[0], dims[1]);
    if (!out.values.empty() &&
        H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()) < 0) {
      throw fail("cannot read " + what + ": " + hdf5_error());
    }
    return out;
  }

  std::string read_string_attribute(const char* name) const {
    const std::string what = std::string("root attribute '") + name + "'";
    const htri_t exists = H5Aexists(file_.get(), name);
    if (exists <= 0) throw fail("missing " + what + " (the metric: \"euclidean\", \"angular\", ...)");
    Hdf5Handle attribute(H5Aopen(file_.get(), name, H5P_DEFAULT), H5Aclose);
    if (!attribute) throw fail("cannot open " + what + ": " + hdf5_error());
    Hdf5Handle type(H5Aget_type(attribute.get()), H5Tclose);
    Hdf5Handle space(H5Aget_space(attribute.get()), H5Sclose);
    if (!type || !space) throw fail("cannot inspect " + what + ": " + hdf5_error());
    if (H5Tget_class(type.get()) != H5T_STRING) throw fail(what + " is not a string");
    if (H5Sget_simple_extent_npoints(space.get()) != 1) throw fail(what + " holds more than one value");

    std::string value;
    if (H5Tis_variable_str(type.get()) > 0) {
      Hdf5Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(memory.get(), H5T_VARIABLE);
      H5Tset_cset(memory.get(), H5Tget_cset(type.get()));
      char* text = nullptr;
      if (H5Aread(attribute.get(), memory.get(), &text) < 0)
        throw fail("cannot read " + what + ": " + hdf5_error());
      if (text != nullptr) value = text;
      H5free_memory(text);
    } else {
      const std::size_t size = H5Tget_size(type.get());
      if (size == 0 || size > 4096) throw fail(what + " has an implausible length " + std::to_string(size));
      std::vector<char> text(size);
      if (H5Aread(attribute.get(), type.get(), text.data()) < 0)
        throw fail("cannot read " + what + ": " + hdf5_error());
      value.assign(text.data(), std::find(text.begin(), text.end(), '\0') - text.begin());
      // Fixed-length strings may be space-padded (H5T_STR_SPACEPAD).
      value.erase(value.find_last_not_of(' ') + 1);
    }
    return value;
  }

 private:
  void check_declared_size(hid_t dataset, const std::string& what, std::uint64_t declared) const {
    Hdf5Handle plist(H5Dget_create_plist(dataset), H5Pclose);
    if (!plist) throw fail("cannot inspect " + what + ": " + hdf5_error());
    const H5D_layout_t layout = H5Pget_layout(plist.get());
    // Virtual datasets and external storage pull their values from other files named
    // inside this one; a data file has no business reading those.
    if ((layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) ||
        H5Pget_external_count(plist.get()) != 0) {
      throw fail(what + " keeps its data outside the file (virtual or external storage)");
    }
    const bool chunked = layout == H5D_CHUNKED;
    const std::uint64_t limit = chunked ? io::saturating_mul(file_size_, kMaxCompressionRatio) : file_size_;
    if (declared > limit) {
      throw fail(what + " declares " + std::to_string(declared) + " bytes but the file has only " +
                 std::to_string(file_size_));
    }
  }

  std::filesystem::path path_;
  std::uint64_t file_size_ = 0;
  Hdf5Handle file_;
};

// ann-benchmarks stores neighbour ids as int32 or int64; quiver's ids are int32.
IntMatrix narrow_ids(const AnnFile& file, const BasicMatrix<std::int64_t>& wide) {
  IntMatrix out(wide.rows, wide.cols);
  for (std::size_t i = 0; i < wide.values.size(); ++i) {
    const std::int64_t id = wide.values[i];
    if (id < std::numeric_limits<std::int32_t>::min() || id > std::numeric_limits<std::int32_t>::max()) {
      throw file.fail("dataset 'neighbors' holds id " + std::to_string(id) + " at row " +
                      std::to_string(i / wide.cols) + ", outside the int32 range");
    }
    out.values[i] = static_cast<std::int32_t>(id);
  }
  return out;
}

}  // namespace

AnnDataset read_ann_hdf5(const std::filesystem::path& path) {
  std::lock_guard lock(hdf5_mutex());
  QuietHdf5Errors quiet;
  const AnnFile file(path);
  for (const char* required : {"train", "test"}) {
    if (!file.has(required)) throw file.fail(std::string("missing dataset '") + required + "'");
  }
  AnnDataset data;
  data.train = file.read_matrix<float>("train", H5T_NATIVE_FLOAT);
  data.test = file.read_matrix<float>("test", H5T_NATIVE_FLOAT);
  if (data.train.cols != data.test.cols) {
    throw file.fail("dataset 'train' has dimension " + std::to_string(data.train.cols) + " but 'test' has " +
                    std::to_string(data.test.cols));
  }
  if (file.has("neighbors")) {
    data.neighbors = narrow_ids(file, file.read_matrix<std::int64_t>("neighbors", H5T_NATIVE_INT64));
    if (data.neighbors.rows != data.test.rows) {
      throw file.fail("dataset 'neighbors' has " + std::to_string(data.neighbors.rows) +
                      " rows but 'test' has " + std::to_string(data.test.rows));
    }
  }
  if (file.has("distances")) {
    data.distances = file.read_matrix<float>("distances", H5T_NATIVE_FLOAT);
    if (data.distances.rows != data.test.rows ||
        (!data.neighbors.values.empty() && data.distances.cols != data.neighbors.cols)) {
      throw file.fail("dataset 'distances' is " + std::to_string(data.distances.rows) + " x " +
                      std::to_string(data.distances.cols) + " but 'neighbors' is " +
                      std::to_string(data.neighbors.rows) + " x " + std::to_string(data.neighbors.cols));
    }
  }
  data.distance = file.read_string_attribute("distance");
  return data;
}

}  // namespace quiver
