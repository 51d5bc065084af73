#include "engine/io/npy_header.h"

#include <limits>
#include <optional>

#include "engine/io/file_error.h"

namespace quiver::io {
namespace {

class DictParser {
 public:
  DictParser(std::string_view text, const std::filesystem::path& path, std::uint64_t text_offset)
      : text_(text), path_(path), base_(text_offset) {}

  NpyHeader parse() {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<std::uint64_t>> shape;
    skip_space();
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::size_t key_at = pos_;
      const std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (peek() == '[') fail("structured dtypes are not supported; expected a plain dtype string");
        descr = parse_string();
      } else if (key == "fortran_order") {
        fortran_order = parse_bool();
      } else if (key == "shape") {
        shape = parse_tuple();
      } else {
        pos_ = key_at;
        fail("unexpected key '" + key + "'; a header has only descr, fortran_order and shape");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        fail("expected ',' or '}'");
      }
    }
    if (!descr || !fortran_order || !shape) fail("header lacks one of 'descr', 'fortran_order', 'shape'");
    return {std::move(*descr), *fortran_order, std::move(*shape)};
  }

 private:
  [[noreturn]] void fail(const std::string& detail) const {
    throw corrupt_file(path_, base_ + pos_, "npy header: " + detail);
  }

  char peek() const {
    if (pos_ >= text_.size()) fail("header text ends early");
    return text_[pos_];
  }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // NumPy's dtype strings and keys never contain quotes or escapes; refusing them keeps
  // the grammar trivially small.
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t start = ++pos_;
    while (peek() != quote) {
      if (text_[pos_] == '\\') fail("escapes in strings are not supported");
      ++pos_;
    }
    return std::string(text_.substr(start, pos_++ - start));
  }

  bool parse_bool() {
    if (consume("True")) return true;
    if (consume("False")) return false;
    fail("expected True or False");
  }

  std::vector<std::uint64_t> parse_tuple() {
    expect('(');
    std::vector<std::uint64_t> values;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      values.push_back(parse_size());
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        fail("expected ',' or ')' in shape");
      }
      if (values.size() > 64) fail("shape has more than 64 dimensions");
    }
    ++pos_;
    return values;
  }

  std::uint64_t parse_size() {
    if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in shape");
    std::uint64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
        fail("shape entry overflows 64 bits");
      value = value * 10 + digit;
      ++pos_;
    }
    // Python 2 wrote long integers as "60000L".
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
    return value;
  }

  std::string_view text_;
  const std::filesystem::path& path_;
  std::uint64_t base_;
  std::size_t pos_ = 0;
};

}  // namespace

NpyHeader parse_npy_header(std::string_view text, const std::filesystem::path& path,
                           std::uint64_t text_offset) {
  return DictParser(text, path, text_offset).parse();
}

std::string format_npy_preamble(std::string_view descr, std::uint64_t rows, std::uint64_t cols) {
  std::string dict = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (" +
                     std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  constexpr std::size_t kFixed = 10;  // magic (6), version (2), header length (2)
  const std::size_t total = (kFixed + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - kFixed - dict.size() - 1, ' ');
  dict.push_back('\n');
  const auto length = static_cast<std::uint16_t>(dict.size());
  std::string preamble("\x93NUMPY\x01\x00", 8);
  preamble.push_back(static_cast<char>(length & 0xff));
  preamble.push_back(static_cast<char>(length >> 8));
  return preamble + dict;
}

}  // namespace quiver::io
