// The public entry points of vector_io.h: pick a format by file name, then hand over to
// the format's reader or writer in this folder.
#include "quiver/vector_io.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "engine/io/bin_format.h"
#include "engine/io/idx_format.h"
#include "engine/io/npy_format.h"
#include "engine/io/vecs_format.h"
#include "quiver/error.h"

namespace quiver {
namespace {

enum class Format { fvecs, bvecs, ivecs, fbin, u8bin, ibin, npy, idx, idx_gzip, unknown };

// Extensions are matched case-insensitively ("BASE.FVECS" from a Windows share).
Format format_of(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.ends_with(".fvecs")) return Format::fvecs;
  if (name.ends_with(".bvecs")) return Format::bvecs;
  if (name.ends_with(".ivecs")) return Format::ivecs;
  if (name.ends_with(".fbin")) return Format::fbin;
  if (name.ends_with(".u8bin")) return Format::u8bin;
  if (name.ends_with(".ibin")) return Format::ibin;
  if (name.ends_with(".npy")) return Format::npy;
  if (name.ends_with(".gz")) {
    // Only IDX is read compressed; "base.fvecs.gz" must not be parsed as IDX.
    for (std::string_view other : {".fvecs.gz", ".bvecs.gz", ".ivecs.gz", ".bin.gz", ".npy.gz"}) {
      if (name.ends_with(other)) return Format::unknown;
    }
    return Format::idx_gzip;
  }
  if (name.ends_with(".idx") || name.ends_with("-ubyte")) return Format::idx;
  return Format::unknown;
}

[[noreturn]] void unsupported(const std::filesystem::path& path, std::string_view supported,
                              std::string_view hint = {}) {
  std::string message = path.string() + ": unsupported file type; supported here: " + std::string(supported);
  if (!hint.empty()) message += " (" + std::string(hint) + ")";
  throw InvalidArgument(message);
}

template <typename T>
void check_writable(const std::filesystem::path& path, BasicMatrixView<T> rows) {
  if (rows.rows > 0 && rows.data == nullptr) {
    throw InvalidArgument(path.string() + ": matrix view has " + std::to_string(rows.rows) +
                          " rows but no data");
  }
  // Every reader rejects dimension 0, so writing one would produce an unreadable file.
  if (rows.rows > 0 && rows.cols == 0) {
    throw InvalidArgument(path.string() + ": cannot write rows of dimension 0");
  }
}

constexpr std::string_view kFloatReadable =
    ".fvecs, .bvecs, .fbin, .u8bin, .npy, .idx, -ubyte, .gz (gzipped IDX only)";
constexpr std::string_view kIntReadable = ".ivecs, .ibin, .npy, .idx, -ubyte, .gz (gzipped IDX only)";

}  // namespace

Matrix read_vectors(const std::filesystem::path& path, std::size_t max_rows) {
  switch (format_of(path)) {
    case Format::fvecs:
      return io::read_vecs<float, float>(path, max_rows);
    case Format::bvecs:
      return io::read_vecs<std::uint8_t, float>(path, max_rows);
    case Format::fbin:
      return io::read_bin<float, float>(path, max_rows);
    case Format::u8bin:
      return io::read_bin<std::uint8_t, float>(path, max_rows);
    case Format::npy:
      return io::read_npy_vectors(path, max_rows);
    case Format::idx:
      return io::read_idx_vectors(path, io::IdxCompression::none, max_rows);
    case Format::idx_gzip:
      return io::read_idx_vectors(path, io::IdxCompression::gzip, max_rows);
    case Format::ivecs:
    case Format::ibin:
      unsupported(path, kFloatReadable, "integer rows: use read_int_vectors");
    case Format::unknown:
      break;
  }
  unsupported(path, kFloatReadable);
}

IntMatrix read_int_vectors(const std::filesystem::path& path, std::size_t max_rows) {
  switch (format_of(path)) {
    case Format::ivecs:
      return io::read_vecs<std::int32_t, std::int32_t>(path, max_rows);
    case Format::ibin:
      return io::read_bin<std::int32_t, std::int32_t>(path, max_rows);
    case Format::npy:
      return io::read_npy_ints(path, max_rows);
    case Format::idx:
      return io::read_idx_ints(path, io::IdxCompression::none, max_rows);
    case Format::idx_gzip:
      return io::read_idx_ints(path, io::IdxCompression::gzip, max_rows);
    case Format::fvecs:
    case Format::bvecs:
    case Format::fbin:
    case Format::u8bin:
      unsupported(path, kIntReadable, "float rows: use read_vectors");
    case Format::unknown:
      break;
  }
  unsupported(path, kIntReadable);
}

void write_vectors(const std::filesystem::path& path, MatrixView vectors) {
  check_writable(path, vectors);
  switch (format_of(path)) {
    case Format::fvecs:
      return io::write_vecs(path, vectors);
    case Format::fbin:
      return io::write_bin(path, vectors);
    case Format::npy:
      return io::write_npy(path, vectors);
    default:
      unsupported(path, ".fvecs, .fbin, .npy");
  }
}

void write_int_vectors(const std::filesystem::path& path, IntMatrixView vectors) {
  check_writable(path, vectors);
  switch (format_of(path)) {
    case Format::ivecs:
      return io::write_vecs(path, vectors);
    case Format::ibin:
      return io::write_bin(path, vectors);
    case Format::npy:
      return io::write_npy(path, vectors);
    default:
      unsupported(path, ".ivecs, .ibin, .npy");
  }
}

}  // namespace quiver
