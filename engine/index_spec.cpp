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

[[noreturn]] void bad_token(std::string_view spec, std::string_view token, const std::string& why) {
  throw InvalidArgument("index spec '" + std::string(spec) + "': token '" + std::string(token) + "' " + why);
}

// "hnsw32" with prefix "hnsw" -> 32; throws if the rest is not a positive integer.
std::size_t number_after(std::string_view token, std::string_view prefix, std::string_view spec) {
  auto digits = token.substr(prefix.size());
  std::size_t value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
    bad_token(spec, token, "must be '" + std::string(prefix) + "' followed by a positive integer");
  }
  return value;
}

}  // namespace

std::string to_string(Encoding encoding) {
  switch (encoding) {
    case Encoding::F32: return "f32";
    case Encoding::F16: return "f16";
    case Encoding::Lvq8: return "lvq8";
    case Encoding::Lvq4: return "lvq4";
    case Encoding::Lvq4x8: return "lvq4x8";
    case Encoding::Qavq: return "qavq";
  }
  return "unknown";
}

std::string to_string(Rerank rerank) {
  switch (rerank) {
    case Rerank::None: return "none";
    case Rerank::F32: return "f32";
    case Rerank::F16: return "f16";
    case Rerank::Lvq8: return "lvq8";
  }
  return "unknown";
}

IndexSpec IndexSpec::parse(std::string_view spec, Metric metric, std::size_t dim) {
  IndexSpec result;
  result.metric = metric;
  result.dim = dim;
  bool rerank_given = false;
  for (auto token : split_commas(spec)) {
    if (token == "f32") {
      result.primary = Encoding::F32;
    } else if (token == "f16") {
      result.primary = Encoding::F16;
    } else if (token == "lvq8") {
      result.primary = Encoding::Lvq8;
    } else if (token == "lvq4") {
      result.primary = Encoding::Lvq4;
    } else if (token == "lvq4x8") {
      result.primary = Encoding::Lvq4x8;
    } else if (token.starts_with("qavq")) {
      result.primary = Encoding::Qavq;
      auto width = token.find('x');
      result.pq_sub_spaces = number_after(token.substr(0, width), "qavq", spec);
      result.pq_bits = 8;
      if (width != std::string_view::npos) {
        auto bits = token.substr(width + 1);
        if (bits != "4" && bits != "8") {
          bad_token(spec, token, "must be qavq<sub-spaces>, optionally with x4 or x8 bits per sub-code");
        }
        result.pq_bits = bits == "4" ? 4 : 8;
      }
    } else if (token == "overlapping") {
      result.pq_overlapping = true;
    } else if (token.starts_with("hnsw")) {
      result.graph = GraphKind::Hnsw;
      result.M = number_after(token, "hnsw", spec);
    } else if (token.starts_with("attn")) {
      result.graph = GraphKind::Attention;
      result.M = number_after(token, "attn", spec);
    } else if (token.starts_with("nq")) {
      result.query_neighbours = number_after(token, "nq", spec);
    } else if (token.starts_with("lq")) {
      result.learning_queries = number_after(token, "lq", spec);
    } else if (token.starts_with("efc")) {
      result.ef_construction = number_after(token, "efc", spec);
    } else if (token.starts_with("leanvec-ood")) {
      result.reduction = Reduction::LeanVecOod;
      result.reduced_dim = number_after(token, "leanvec-ood", spec);
    } else if (token.starts_with("leanvec")) {
      result.reduction = Reduction::LeanVecId;
      result.reduced_dim = number_after(token, "leanvec", spec);
    } else if (token.starts_with("rerank=")) {
      auto what = token.substr(7);
      rerank_given = true;
      if (what == "none") {
        result.rerank = Rerank::None;
      } else if (what == "f32") {
        result.rerank = Rerank::F32;
      } else if (what == "f16") {
        result.rerank = Rerank::F16;
      } else if (what == "lvq8") {
        result.rerank = Rerank::Lvq8;
      } else {
        bad_token(spec, token, "names an unknown re-rank encoding; expected rerank=f32, f16, lvq8 or none");
      }
    } else {
      bad_token(spec, token,
                "is unknown; expected hnsw<M>, attn<M>, efc<N>, nq<N>, lq<N>, f32, f16, lvq8, lvq4, lvq4x8, "
                "qavq<sub-spaces>[x4], overlapping, leanvec<d>, "
                "leanvec-ood<d> or rerank=<f32|f16|lvq8|none> (e.g. \"hnsw32,leanvec160,lvq8,rerank=f16\")");
    }
  }
  if (!rerank_given && result.reduction != Reduction::None) result.rerank = Rerank::Lvq8;
  if (!rerank_given && result.primary == Encoding::Qavq) result.rerank = Rerank::F32;
  if (result.primary != Encoding::Qavq) {
    result.pq_sub_spaces = 0;
    result.pq_bits = 8;
  }
  if (result.graph != GraphKind::Attention) {  // HNSW ignores them
    result.query_neighbours = default_query_neighbours;
    result.learning_queries = default_learning_queries;
  }
  result.validate();
  return result;
}

std::string IndexSpec::to_string() const {
  std::string text = (graph == GraphKind::Attention ? "attn" : "hnsw") + std::to_string(M) + ",efc" +
                     std::to_string(ef_construction);
  if (graph == GraphKind::Attention && query_neighbours != default_query_neighbours) {
    text += ",nq" + std::to_string(query_neighbours);
  }
  if (graph == GraphKind::Attention && learning_queries != default_learning_queries) {
    text += ",lq" + std::to_string(learning_queries);
  }
  if (reduction == Reduction::LeanVecId) text += ",leanvec" + std::to_string(reduced_dim);
  if (reduction == Reduction::LeanVecOod) text += ",leanvec-ood" + std::to_string(reduced_dim);
  text += "," + quiver::to_string(primary);
  if (primary == Encoding::Qavq) text += std::to_string(pq_sub_spaces) + (pq_bits == 4 ? "x4" : "");
  if (pq_overlapping) text += ",overlapping";
  if (rerank != Rerank::None || reduction != Reduction::None || primary == Encoding::Qavq) {
    text += ",rerank=" + quiver::to_string(rerank);
  }
  return text;
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
  if (query_neighbours < 1 || query_neighbours > max_query_neighbours) {
    throw InvalidArgument("nq" + std::to_string(query_neighbours) + ": neighbours per sample query must be 1.." +
                          std::to_string(max_query_neighbours));
  }
  if (learning_queries > max_learning_queries) {
    throw InvalidArgument("lq" + std::to_string(learning_queries) + ": learning queries must be 0.." +
                          std::to_string(max_learning_queries) + " (0 learns from the given sample queries only)");
  }
  if (pq_overlapping && (primary != Encoding::Qavq || pq_sub_spaces < 2)) {
    throw InvalidArgument("overlapping chains qavq codebooks: it needs qavq<sub-spaces> with at least 2 sub-spaces");
  }
  if (primary == Encoding::Qavq) {
    if (metric == Metric::L2) {
      throw InvalidArgument("qavq scores inner products through lookup tables: use it with the ip or cosine metric");
    }
    if (reduction != Reduction::None) {
      throw InvalidArgument("qavq quantizes the full vectors: it does not combine with LeanVec");
    }
    if (pq_bits != 4 && pq_bits != 8) {
      throw InvalidArgument("qavq sub-codes have 4 or 8 bits, not " + std::to_string(pq_bits));
    }
    if (pq_sub_spaces == 0 || pq_sub_spaces > dim || dim % pq_sub_spaces != 0) {
      throw InvalidArgument("qavq" + std::to_string(pq_sub_spaces) + ": the number of sub-spaces must divide the " +
                            "dimension " + std::to_string(dim) + " (e.g. qavq" +
                            std::to_string(dim % 16 == 0 ? 16 : dim) + ")");
    }
  }
  if (reduction != Reduction::None && (reduced_dim == 0 || reduced_dim >= dim)) {
    throw InvalidArgument("LeanVec target dimension " + std::to_string(reduced_dim) +
                          " must be between 1 and the vectors' dimension minus one (" + std::to_string(dim - 1) + ")");
  }
}

}  // namespace quiver
