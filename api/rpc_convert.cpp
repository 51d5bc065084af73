#include "api/rpc_convert.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <variant>

#include "quiver/error.h"

namespace quiver::api {

namespace {

std::string prefix(std::string_view what) { return what.empty() ? std::string() : std::string(what) + ": "; }

std::string number(double value) {
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

std::int64_t to_wire_count(std::size_t value) {
  return static_cast<std::int64_t>(std::min<std::size_t>(value, std::numeric_limits<std::int64_t>::max()));
}

}  // namespace

Metric from_rpc(rpc::Metric::type metric) {
  switch (metric) {
    case rpc::Metric::L2: return Metric::L2;
    case rpc::Metric::INNER_PRODUCT: return Metric::InnerProduct;
    case rpc::Metric::COSINE: return Metric::Cosine;
  }
  // An enum value from a newer client, or garbage: Thrift does not check enums.
  throw InvalidArgument("metric " + std::to_string(static_cast<int>(metric)) +
                        " is unknown: expected L2 (0), INNER_PRODUCT (1) or COSINE (2)");
}

rpc::Metric::type to_rpc(Metric metric) {
  switch (metric) {
    case Metric::L2: return rpc::Metric::L2;
    case Metric::InnerProduct: return rpc::Metric::INNER_PRODUCT;
    case Metric::Cosine: return rpc::Metric::COSINE;
  }
  return rpc::Metric::L2;
}

std::uint64_t from_rpc_id(std::int64_t id, std::string_view what) {
  if (id < 0) throw InvalidArgument(prefix(what) + "id " + std::to_string(id) + " is negative: ids are in [0, 2^63)");
  return static_cast<std::uint64_t>(id);
}

std::vector<float> from_rpc_vector(const std::vector<double>& values, const VectorShape& shape,
                                   std::string_view what) {
  if (values.size() != shape.dim) {
    throw InvalidArgument(prefix(what) + "vector has dimension " + std::to_string(values.size()) +
                          ", but collection '" + std::string(shape.collection) + "' has dimension " +
                          std::to_string(shape.dim));
  }
  std::vector<float> vector(values.size());
  constexpr double largest = std::numeric_limits<float>::max();
  for (std::size_t i = 0; i < values.size(); ++i) {
    // A finite double beyond float's range would be stored as infinity.
    if (!std::isfinite(values[i]) || std::fabs(values[i]) > largest) {
      throw InvalidArgument(prefix(what) + "vector component " + std::to_string(i) + " is " + number(values[i]) +
                            ": expected a finite value within float range");
    }
    vector[i] = static_cast<float>(values[i]);
  }
  return vector;
}

Attributes from_rpc(const std::map<std::string, rpc::AttributeValue>& attributes, std::string_view what) {
  Attributes result;
  for (const auto& [name, value] : attributes) {
    const int set = int{value.__isset.s} + int{value.__isset.i} + int{value.__isset.d} + int{value.__isset.tags};
    if (set != 1) {
      throw InvalidArgument(prefix(what) + "attribute '" + name + "' has " + std::to_string(set) +
                            " fields set: expected exactly one of s, i, d, tags");
    }
    // Names and types are checked by the AttributeStore, which knows the schema.
    if (value.__isset.s) {
      result.emplace(name, value.s);
    } else if (value.__isset.i) {
      result.emplace(name, value.i);
    } else if (value.__isset.d) {
      if (!std::isfinite(value.d)) {
        throw InvalidArgument(prefix(what) + "attribute '" + name + "' is " + number(value.d) +
                              ": expected a finite number");
      }
      result.emplace(name, value.d);
    } else {
      result.emplace(name, value.tags);
    }
  }
  return result;
}

UpsertItem from_rpc(const rpc::Record& record, const VectorShape& shape, std::string_view what) {
  const std::string where = std::string(what) + " (id " + std::to_string(record.id) + ")";
  UpsertItem item;
  item.id = from_rpc_id(record.id, what);
  item.vector = from_rpc_vector(record.vector, shape, where);
  item.attributes = from_rpc(record.attributes, where);
  return item;
}

CollectionSearchRequest from_rpc(const rpc::SearchRequest& request, const VectorShape& shape,
                                 std::string_view what) {
  if (request.k < 1 || static_cast<std::size_t>(request.k) > RequestLimits::max_k) {
    throw InvalidArgument(prefix(what) + "k " + std::to_string(request.k) + " is out of range: expected 1 to " +
                          std::to_string(RequestLimits::max_k));
  }
  // ef 0 asks for the engine's default, max(64, k).
  if (request.ef < 0 || static_cast<std::size_t>(request.ef) > RequestLimits::max_ef) {
    throw InvalidArgument(prefix(what) + "ef " + std::to_string(request.ef) + " is out of range: expected 1 to " +
                          std::to_string(RequestLimits::max_ef) + ", or 0 for the default");
  }
  if (!(request.min_relevance >= 0.0 && request.min_relevance <= 1.0)) {
    throw InvalidArgument(prefix(what) + "min_relevance " + number(request.min_relevance) +
                          " is out of range: expected 0 to 1");
  }
  CollectionSearchRequest result;
  result.vector = from_rpc_vector(request.vector, shape, what);
  result.k = static_cast<std::size_t>(request.k);
  result.ef = static_cast<std::size_t>(request.ef);
  result.filter = request.filter;
  result.min_relevance = static_cast<float>(request.min_relevance);
  result.with_attributes = request.with_attributes;
  return result;
}

void check_batch_size(std::size_t count, const RequestLimits& limits, std::string_view what) {
  if (count > limits.max_batch) {
    throw InvalidArgument(std::string(what) + " has " + std::to_string(count) + " items: at most " +
                          std::to_string(limits.max_batch) + " (the server's --max-batch) per call");
  }
}

std::map<std::string, rpc::AttributeValue> to_rpc(const Attributes& attributes) {
  std::map<std::string, rpc::AttributeValue> result;
  for (const auto& [name, value] : attributes) {
    rpc::AttributeValue& out = result[name];
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            out.__set_s(v);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            out.__set_i(v);
          } else if constexpr (std::is_same_v<T, double>) {
            out.__set_d(v);
          } else {
            out.__set_tags(v);
          }
        },
        value);
  }
  return result;
}

rpc::Hit to_rpc(const CollectionHit& hit) {
  rpc::Hit result;
  result.id = static_cast<std::int64_t>(hit.hit.id);
  result.score = hit.hit.score;
  result.relevance = hit.hit.relevance;
  if (hit.attributes) result.__set_attributes(to_rpc(*hit.attributes));
  return result;
}

rpc::CollectionStats to_rpc(const CollectionStats& stats) {
  rpc::CollectionStats result;
  result.name = stats.name;
  result.spec = stats.spec.to_string();
  result.metric = to_rpc(stats.spec.metric);
  result.dim = static_cast<std::int32_t>(stats.spec.dim);
  result.size = to_wire_count(stats.size);
  result.deleted = to_wire_count(stats.deleted);
  result.memory_bytes = to_wire_count(stats.memory_bytes);
  result.last_sequence = to_wire_count(stats.last_sequence);
  result.checkpoint_sequence = to_wire_count(stats.checkpoint_sequence);
  result.log_entries = to_wire_count(stats.log_entries);
  result.has_relevance_filter = stats.has_relevance_filter;
  result.index_recovery = stats.index_recovery;
  result.inserted_since_learned = to_wire_count(stats.inserted_since_learned);
  return result;
}

}  // namespace quiver::api
