// The Thrift service's implementation (rpc::QuiverIf, generated from quiver.thrift):
// resolves the collection, validates the request (rpc_convert.h), calls the engine, and
// turns every failure into one of the IDL's typed exceptions. One instance serves all
// worker threads; it holds no per-request state.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/collection_registry.h"
#include "api/log.h"
#include "api/request_limits.h"
#include "api/request_log.h"
#include "quiver_rpc/Quiver.h"

namespace quiver::api {

class ServiceHandler : public rpc::QuiverIf {
 public:
  ServiceHandler(CollectionRegistry& registry, RequestLog& requests, Log& log, RequestLimits limits,
                 int worker_threads);

  // From now on every request but health() is answered with Unavailable, so that
  // clients retry elsewhere while in-flight requests finish.
  void begin_shutdown() { shutting_down_.store(true); }
  bool shutting_down() const { return shutting_down_.load(); }

  void create_collection(const std::string& name, const std::string& spec, rpc::Metric::type metric,
                         std::int32_t dim) override;
  void create_collection_with_sample_queries(const std::string& name, const std::string& spec,
                                             rpc::Metric::type metric, std::int32_t dim,
                                             const std::string& sample_queries) override;
  void drop_collection(const std::string& name) override;
  void list_collections(std::vector<std::string>& result) override;
  void describe_collection(rpc::CollectionStats& result, const std::string& name) override;
  std::int64_t upsert(const std::string& collection, const std::vector<rpc::Record>& records) override;
  std::int64_t remove(const std::string& collection, const std::vector<std::int64_t>& ids) override;
  void get(rpc::Record& result, const std::string& collection, std::int64_t id) override;
  void search(std::vector<rpc::Hit>& result, const std::string& collection,
              const rpc::SearchRequest& request) override;
  void search_batch(std::vector<std::vector<rpc::Hit>>& result, const std::string& collection,
                    const std::vector<rpc::SearchRequest>& requests) override;
  void set_relevance_filter(const std::string& collection, const std::string& filter_file) override;
  bool clear_relevance_filter(const std::string& collection) override;
  std::int64_t compact(const std::string& collection) override;
  void stats(rpc::ServerStats& result) override;
  void health(rpc::Health& result) override;

 private:
  // Runs `body` as request `method`: refuses it while shutting down, times it, logs it,
  // and rethrows any failure as the matching rpc exception.
  template <class Body>
  auto serve(std::string_view method, std::string detail, Body&& body) -> decltype(body());

  CollectionRegistry& registry_;
  RequestLog& requests_;
  Log& log_;
  RequestLimits limits_;
  int worker_threads_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> shutting_down_{false};
};

}  // namespace quiver::api
