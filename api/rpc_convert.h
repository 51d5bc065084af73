// Translation between the Thrift wire types (quiver::rpc, generated from quiver.thrift)
// and the engine's, validating every field on the way in: the handler hands the engine
// only requests it has checked, and every rejection names the field, the bad value and
// what was expected (as quiver::InvalidArgument).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/request_limits.h"
#include "quiver/attribute_store.h"
#include "quiver/collection.h"
#include "quiver/metric.h"
#include "quiver_rpc/quiver_types.h"

namespace quiver::api {

// What incoming vectors must match: the collection's name (for messages) and dimension.
struct VectorShape {
  std::string_view collection;
  std::size_t dim = 0;
};

Metric from_rpc(rpc::Metric::type metric);
rpc::Metric::type to_rpc(Metric metric);

// `what` names the value in messages, e.g. "record 3" or "id".
std::uint64_t from_rpc_id(std::int64_t id, std::string_view what);
std::vector<float> from_rpc_vector(const std::vector<double>& values, const VectorShape& shape,
                                   std::string_view what);
Attributes from_rpc(const std::map<std::string, rpc::AttributeValue>& attributes, std::string_view what);
UpsertItem from_rpc(const rpc::Record& record, const VectorShape& shape, std::string_view what);
CollectionSearchRequest from_rpc(const rpc::SearchRequest& request, const VectorShape& shape,
                                 std::string_view what);
// Throws InvalidArgument when `count` items exceed limits.max_batch.
void check_batch_size(std::size_t count, const RequestLimits& limits, std::string_view what);

std::map<std::string, rpc::AttributeValue> to_rpc(const Attributes& attributes);
rpc::Hit to_rpc(const CollectionHit& hit);
rpc::CollectionStats to_rpc(const CollectionStats& stats);

}  // namespace quiver::api
