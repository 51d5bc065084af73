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

#include "quiver/error.h"
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

// Reads `path` with the float reader (selector even) or the integer one (odd), capped at
// `max_rows`, and round-trips what is accepted; a rejection (quiver::Error) is expected.
inline void read_either_and_round_trip(const std::filesystem::path& path, std::uint8_t selector,
                                       std::size_t max_rows) {
  try {
    if (selector % 2 == 0) {
      check_round_trip(read_vectors(path, max_rows));
    } else {
      check_round_trip(read_int_vectors(path, max_rows));
    }
  } catch (const Error&) {
    // Rejecting the file is the expected outcome; anything else escapes and is a finding.
  }
}

// The shared body of the two vector-file-family targets: the first byte picks one of two
// float formats or the integer one and bounds the rows read; the rest is the file.
inline int fuzz_vector_files(const std::uint8_t* data, std::size_t size, std::string_view float_name,
                             std::string_view other_float_name, std::string_view int_name) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::size_t max_rows = max_rows_from(selector);
  try {
    switch (selector % 3) {
      case 0:
        check_round_trip(read_vectors(write_input(float_name, data + 1, size - 1), max_rows));
        break;
      case 1:
        check_round_trip(read_vectors(write_input(other_float_name, data + 1, size - 1), max_rows));
        break;
      default:
        check_round_trip(read_int_vectors(write_input(int_name, data + 1, size - 1), max_rows));
        break;
    }
  } catch (const Error&) {
    // Rejecting the file is the expected outcome; anything else escapes and is a finding.
  }
  return 0;
}

}  // namespace quiver::fuzz
