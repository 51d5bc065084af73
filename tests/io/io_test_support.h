// Helpers for the io/ tests: a scratch directory per test, a byte builder for
// hand-written files, and a checker that an action throws one exact exception type.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>

#include "quiver/matrix.h"

namespace quiver::testing {

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("quiver-io-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Builds file contents byte by byte, in the byte order each format demands.
class Bytes {
 public:
  Bytes& u8(std::uint8_t v) {
    data_.push_back(static_cast<char>(v));
    return *this;
  }
  Bytes& le16(std::uint16_t v) { return u8(v & 0xff).u8(v >> 8); }
  Bytes& le32(std::uint32_t v) { return u8(v & 0xff).u8((v >> 8) & 0xff).u8((v >> 16) & 0xff).u8(v >> 24); }
  Bytes& be32(std::uint32_t v) { return u8(v >> 24).u8((v >> 16) & 0xff).u8((v >> 8) & 0xff).u8(v & 0xff); }
  Bytes& i32(std::int32_t v) { return le32(static_cast<std::uint32_t>(v)); }
  Bytes& f32(float v) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof(bits));
    return le32(bits);
  }
  Bytes& text(std::string_view s) {
    data_.append(s);
    return *this;
  }
  Bytes& fill(std::size_t count, std::uint8_t v) {
    data_.append(count, static_cast<char>(v));
    return *this;
  }
  const std::string& str() const { return data_; }
  std::size_t size() const { return data_.size(); }

 private:
  std::string data_;
};

inline void write_file(const std::filesystem::path& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  REQUIRE(out.good());
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_gzip_file(const std::filesystem::path& path, std::string_view contents) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  const int written = gzwrite(file, contents.data(), static_cast<unsigned>(contents.size()));
  const int closed = gzclose(file);
  REQUIRE(written == static_cast<int>(contents.size()));
  REQUIRE(closed == Z_OK);
}

// Runs `action` and returns the message of the `Expected` it throws. Fails the test if
// it throws nothing or anything else, including a sibling quiver::Error subclass.
template <typename Expected>
std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Expected& e) {
    return e.what();
  } catch (const std::exception& e) {
    // doctest streams a const char* as a pointer; a std::string prints as text.
    const std::string failure =
        std::string("expected ") + typeid(Expected).name() + " but got " + typeid(e).name() + ": " + e.what();
    FAIL_CHECK(failure);
    return {};
  }
  const std::string failure = std::string("expected ") + typeid(Expected).name() + " but nothing was thrown";
  FAIL_CHECK(failure);
  return {};
}

inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

inline IntMatrix random_ints(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> value(-1000000, 1000000);
  IntMatrix out(rows, cols);
  for (auto& v : out.values) v = value(rng);
  return out;
}

}  // namespace quiver::testing
