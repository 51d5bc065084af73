#include "quiver/index_spec.h"

#include <charconv>
#include <string>
#include <vector>

#include "quiver/error.h"

namespace quiver {

namespace {

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> tokens;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto token = text.substr(0, comma);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    tokens.push_back(token);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return tokens;
}

// "hnsw32" with prefix "hnsw" -> 32; throws if the rest is not a positive integer.
std::size_t number_after(std::string_view token, std::string_view prefix, std::string_view spec) {
  auto digits = token.substr(prefix.size());
  std::size_t value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
    throw InvalidArgument("index spec '" + std::string(spec) + "': token '" + std::string(token) +
                          "' must be '" + std::string(prefix) + "' followed by a positive integer");
  }
  return value;
}

}  // namespace

std::string to_string(Encoding encoding) {
  switch (encoding) {
    case Encoding::F32: return "f32";
    case Encoding::F16: return "f16";
  }
  return "unknown";
}

IndexSpec IndexSpec::parse(std::string_view spec, Metric metric, std::size_t dim) {
  IndexSpec result;
  result.metric = metric;
  result.dim = dim;
  for (auto token : split_commas(spec)) {
    if (token == "f32") {
      result.primary = Encoding::F32;
    } else if (token == "f16") {
      result.primary = Encoding::F16;
    } else if (token.starts_with("hnsw")) {
      result.graph = GraphKind::Hnsw;
      result.M = number_after(token, "hnsw", spec);
    } else if (token.starts_with("efc")) {
      result.ef_construction = number_after(token, "efc", spec);
    } else {
      throw InvalidArgument("index spec '" + std::string(spec) + "': unknown token '" + std::string(token) +
                            "'; expected hnsw<M>, efc<N>, f32 or f16 (e.g. \"hnsw32,efc200,f16\")");
    }
  }
  result.validate();
  return result;
}

std::string IndexSpec::to_string() const {
  return "hnsw" + std::to_string(M) + ",efc" + std::to_string(ef_construction) + "," + quiver::to_string(primary);
}

void IndexSpec::validate() const {
  if (dim == 0 || dim > max_dim) {
    throw InvalidArgument("dimension " + std::to_string(dim) + " is out of range: expected 1.." +
                          std::to_string(max_dim));
  }
  if (M < 2 || M > max_M) {
    throw InvalidArgument("graph degree M = " + std::to_string(M) + " is out of range: expected 2.." +
                          std::to_string(max_M));
  }
  if (ef_construction < 1 || ef_construction > 100000) {
    throw InvalidArgument("ef_construction = " + std::to_string(ef_construction) +
                          " is out of range: expected 1..100000");
  }
}

}  // namespace quiver
