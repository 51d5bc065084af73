// What every fuzz target shares: a per-process scratch directory for the files a reader
// must be handed by path (parallel fuzzing jobs never share one), and the round-trip check
// that a matrix a reader accepted survives being written and read back bit for bit.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

#include "quiver/matrix.h"
#include "quiver/vector_io.h"

namespace quiver::fuzz {

class ScratchDirectory {
 public:
  ScratchDirectory() {
    // tmpfs when there is one: the targets write a file per execution.
    std::filesystem::path root = std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                      : std::filesystem::temp_directory_path();
    std::random_device device;
    path_ = root / ("quiver-fuzz-" + std::to_string(::getpid()) + "-" + std::to_string(device()));
    std::filesystem::create_directories(path_);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline const std::filesystem::path& scratch_directory() {
  static const ScratchDirectory directory;
  return directory.path();
}

inline std::filesystem::path write_file(const std::filesystem::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();  // the harness, not the library, failed: stop loudly
  return path;
}

inline std::filesystem::path write_input(std::string_view name, const std::uint8_t* data, std::size_t size) {
  return write_file(scratch_directory() / name, data, size);
}

// A reader that accepted a file must hand back a matrix that the writers store and the
// readers return unchanged: catches shapes that disagree with the data they carry.
template <typename T>
void check_round_trip(const BasicMatrix<T>& matrix) {
  if (matrix.values.size() != matrix.rows * matrix.cols) std::abort();
  if (matrix.rows == 0) return;
  auto path = scratch_directory() / (std::is_same_v<T, float> ? "round-trip.fbin" : "round-trip.ibin");
  BasicMatrix<T> back;
  if constexpr (std::is_same_v<T, float>) {
    write_vectors(path, matrix);
    back = read_vectors(path);
  } else {
    write_int_vectors(path, matrix);
    back = read_int_vectors(path);
  }
  if (back.rows != matrix.rows || back.cols != matrix.cols ||
      std::memcmp(back.values.data(), matrix.values.data(), matrix.values.size() * sizeof(T)) != 0) {
    std::abort();
  }
}

// Row caps the selector byte can ask for: everything, or a small count that cuts the
// file short (the max_rows path of every reader).
inline std::size_t max_rows_from(std::uint8_t selector) {
  unsigned cap = selector >> 4;
  return cap == 0 ? static_cast<std::size_t>(-1) : cap - 1;
}

}  // namespace quiver::fuzz
