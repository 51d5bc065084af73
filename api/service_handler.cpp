#include "api/service_handler.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <thread>
#include <utility>

#include "api/conflict.h"
#include "api/rpc_convert.h"
#include "api/uploaded_file.h"
#include "quiver/error.h"
#include "quiver/index_spec.h"
#include "quiver/matrix.h"
#include "quiver/relevance_filter.h"

namespace quiver::api {

namespace {

template <class RpcError>
[[noreturn]] void throw_rpc(std::string message) {
  RpcError error;
  error.__set_message(std::move(message));
  throw error;
}

// Called inside a catch block: names the failure in `error_text` (for the request log)
// and throws the IDL exception a client can act on. Engine errors other than bad input
// and missing things (a file that cannot be read or written) leave the request
// retryable, hence Unavailable.
[[noreturn]] void rethrow_as_rpc(std::string& error_text, Log& log, std::string_view method) {
  try {
    throw;
  } catch (const rpc::Unavailable& e) {
    error_text = "Unavailable: " + e.message;
    throw;
  } catch (const InvalidArgument& e) {
    error_text = std::string("InvalidArgument: ") + e.what();
    throw_rpc<rpc::InvalidArgument>(e.what());
  } catch (const NotFound& e) {
    error_text = std::string("NotFound: ") + e.what();
    throw_rpc<rpc::NotFound>(e.what());
  } catch (const Conflict& e) {
    error_text = std::string("Conflict: ") + e.what();
    throw_rpc<rpc::Conflict>(e.what());
  } catch (const Error& e) {
    error_text = std::string("Unavailable: ") + e.what();
    log.error(std::string(method) + " failed: " + e.what());
    throw_rpc<rpc::Unavailable>(e.what());
  } catch (const std::bad_alloc&) {
    error_text = "Unavailable: out of memory";
    log.error(std::string(method) + " failed: out of memory");
    throw_rpc<rpc::Unavailable>("the server ran out of memory serving this request");
  } catch (const std::exception& e) {
    // A bug, not bad input; the client still gets a typed answer and the log says so.
    error_text = std::string("Unavailable: internal error: ") + e.what();
    log.error(std::string(method) + " failed with an internal error: " + e.what());
    throw_rpc<rpc::Unavailable>(std::string("internal error: ") + e.what());
  }
}

// Records the request when it ends, however it ends.
class RequestScope {
 public:
  RequestScope(RequestLog& requests, std::string_view method, std::string detail)
      : requests_(requests), method_(method), detail_(std::move(detail)) {}
  ~RequestScope() {
    requests_.record(method_, detail_, std::chrono::steady_clock::now() - start_, error_);
  }
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;
  std::string& error() { return error_; }

 private:
  RequestLog& requests_;
  std::string_view method_;
  std::string detail_;
  std::string error_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

std::string item_name(std::string_view kind, std::size_t index) {
  return std::string(kind) + " " + std::to_string(index);
}

VectorShape shape_of(const Collection& collection, const std::string& name) {
  return {name, collection.spec().dim};
}

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

IndexSpec parse_collection_spec(const std::string& name, const std::string& spec, rpc::Metric::type metric,
                                std::int32_t dim) {
  CollectionRegistry::validate_name(name);
  if (dim < 1 || static_cast<std::size_t>(dim) > IndexSpec::max_dim) {
    throw InvalidArgument("dim " + std::to_string(dim) + " is out of range: expected 1 to " +
                          std::to_string(IndexSpec::max_dim));
  }
  return IndexSpec::parse(spec, from_rpc(metric), static_cast<std::size_t>(dim));
}

// Rows of `dim` little-endian float32 values (the hosts quiver builds for are
// little-endian); finiteness is checked by the index.
Matrix sample_queries_from_wire(const std::string& bytes, std::size_t dim) {
  const std::size_t row_bytes = dim * sizeof(float);
  if (bytes.empty() || bytes.size() % row_bytes != 0) {
    throw InvalidArgument("sample_queries holds " + std::to_string(bytes.size()) + " bytes, not a whole number of " +
                          std::to_string(dim) + "-dimensional float32 rows (" + std::to_string(row_bytes) +
                          " bytes each)");
  }
  Matrix queries(bytes.size() / row_bytes, dim);
  std::memcpy(queries.values.data(), bytes.data(), bytes.size());
  return queries;
}

}  // namespace

ServiceHandler::ServiceHandler(CollectionRegistry& registry, RequestLog& requests, Log& log, RequestLimits limits,
                               int worker_threads)
    : registry_(registry), requests_(requests), log_(log), limits_(limits), worker_threads_(worker_threads) {}

template <class Body>
auto ServiceHandler::serve(std::string_view method, std::string detail, Body&& body) -> decltype(body()) {
  RequestScope scope(requests_, method, std::move(detail));
  try {
    if (shutting_down_.load()) throw_rpc<rpc::Unavailable>("the server is shutting down");
    return body();
  } catch (...) {
    rethrow_as_rpc(scope.error(), log_, method);
  }
}

void ServiceHandler::create_collection(const std::string& name, const std::string& spec, rpc::Metric::type metric,
                                       std::int32_t dim) {
  serve("create_collection", "collection=" + name + " spec=" + spec + " dim=" + std::to_string(dim), [&] {
    const IndexSpec parsed = parse_collection_spec(name, spec, metric, dim);
    registry_.create(name, parsed);
    log_.info("created collection '" + name + "' (" + parsed.to_string() + ", " + to_string(parsed.metric) +
              ", dim " + std::to_string(dim) + ")");
  });
}

void ServiceHandler::create_collection_with_sample_queries(const std::string& name, const std::string& spec,
                                                           rpc::Metric::type metric, std::int32_t dim,
                                                           const std::string& sample_queries) {
  serve("create_collection_with_sample_queries",
        "collection=" + name + " spec=" + spec + " dim=" + std::to_string(dim) +
            " sample_queries_bytes=" + std::to_string(sample_queries.size()),
        [&] {
          const IndexSpec parsed = parse_collection_spec(name, spec, metric, dim);
          const Matrix queries = sample_queries_from_wire(sample_queries, parsed.dim);
          registry_.create(name, parsed, queries);
          log_.info("created collection '" + name + "' (" + parsed.to_string() + ", " + to_string(parsed.metric) +
                    ", dim " + std::to_string(dim) + ", " + std::to_string(queries.rows) + " sample queries)");
        });
}

void ServiceHandler::drop_collection(const std::string& name) {
  serve("drop_collection", "collection=" + name, [&] {
    registry_.drop(name);
    log_.info("dropped collection '" + name + "'");
  });
}

void ServiceHandler::list_collections(std::vector<std::string>& result) {
  result = serve("list_collections", "", [&] { return registry_.names(); });
}

void ServiceHandler::describe_collection(rpc::CollectionStats& result, const std::string& name) {
  result = serve("describe_collection", "collection=" + name, [&] { return to_rpc(registry_.lookup(name)->stats()); });
}

std::int64_t ServiceHandler::upsert(const std::string& collection, const std::vector<rpc::Record>& records) {
  return serve("upsert", "collection=" + collection + " records=" + std::to_string(records.size()), [&] {
    const auto target = registry_.lookup(collection);
    check_batch_size(records.size(), limits_, "upsert");
    const VectorShape shape = shape_of(*target, collection);
    std::vector<UpsertItem> items;
    items.reserve(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) items.push_back(from_rpc(records[i], shape, item_name("record", i)));
    return static_cast<std::int64_t>(target->upsert(items));
  });
}

std::int64_t ServiceHandler::remove(const std::string& collection, const std::vector<std::int64_t>& ids) {
  return serve("remove", "collection=" + collection + " ids=" + std::to_string(ids.size()), [&] {
    const auto target = registry_.lookup(collection);
    check_batch_size(ids.size(), limits_, "remove");
    std::vector<std::uint64_t> engine_ids;
    engine_ids.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) engine_ids.push_back(from_rpc_id(ids[i], item_name("id", i)));
    return static_cast<std::int64_t>(target->remove(engine_ids));
  });
}

void ServiceHandler::get(rpc::Record& result, const std::string& collection, std::int64_t id) {
  result = serve("get", "collection=" + collection + " id=" + std::to_string(id), [&] {
    const auto target = registry_.lookup(collection);
    const auto record = target->get(from_rpc_id(id, ""));
    if (!record) throw NotFound("id " + std::to_string(id) + " is not in collection '" + collection + "'");
    rpc::Record out;
    out.id = id;
    out.vector.assign(record->vector.begin(), record->vector.end());
    out.attributes = to_rpc(record->attributes);
    return out;
  });
}

void ServiceHandler::search(std::vector<rpc::Hit>& result, const std::string& collection,
                            const rpc::SearchRequest& request) {
  result = serve("search", "collection=" + collection + " k=" + std::to_string(request.k), [&] {
    const auto target = registry_.lookup(collection);
    const auto hits = target->search(from_rpc(request, shape_of(*target, collection), ""));
    std::vector<rpc::Hit> out;
    out.reserve(hits.size());
    for (const auto& hit : hits) out.push_back(to_rpc(hit));
    return out;
  });
}

void ServiceHandler::search_batch(std::vector<std::vector<rpc::Hit>>& result, const std::string& collection,
                                  const std::vector<rpc::SearchRequest>& requests) {
  result = serve("search_batch", "collection=" + collection + " requests=" + std::to_string(requests.size()), [&] {
    const auto target = registry_.lookup(collection);
    check_batch_size(requests.size(), limits_, "search_batch");
    const VectorShape shape = shape_of(*target, collection);
    // All validated before any runs: a bad request fails the batch at once, not after
    // the good ones have spent their time.
    std::vector<CollectionSearchRequest> engine_requests;
    engine_requests.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      engine_requests.push_back(from_rpc(requests[i], shape, item_name("request", i)));
    }
    // The batch spreads over the cores: one request's latency, not the pool's width,
    // is what a batch caller waits for.
    std::vector<std::vector<rpc::Hit>> out(requests.size());
    const std::size_t workers =
        std::min<std::size_t>(engine_requests.size(), std::max(1u, std::thread::hardware_concurrency()));
    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> failures(workers);
    auto work = [&](std::size_t worker) {
      try {
        for (std::size_t i = next++; i < engine_requests.size(); i = next++) {
          const auto hits = target->search(engine_requests[i]);
          out[i].reserve(hits.size());
          for (const auto& hit : hits) out[i].push_back(to_rpc(hit));
        }
      } catch (...) {
        failures[worker] = std::current_exception();
        next = engine_requests.size();
      }
    };
    {
      std::vector<std::jthread> helpers;
      for (std::size_t worker = 1; worker < workers; ++worker) helpers.emplace_back(work, worker);
      work(0);
    }
    for (const auto& failure : failures) {
      if (failure) std::rethrow_exception(failure);
    }
    return out;
  });
}

void ServiceHandler::set_relevance_filter(const std::string& collection, const std::string& filter_file) {
  serve("set_relevance_filter", "collection=" + collection + " bytes=" + std::to_string(filter_file.size()), [&] {
    const auto target = registry_.lookup(collection);
    // RelevanceFilter reads files: the bytes go to a scratch file, removed however the
    // load ends.
    const UploadedFile upload(filter_file);
    std::optional<RelevanceFilter> filter;
    try {
      filter.emplace(RelevanceFilter::load(upload.path()));
    } catch (const CorruptFile& e) {
      throw InvalidArgument(std::string("filter_file is not a relevance filter file: ") + e.what());
    } catch (const IncompatibleVersion& e) {
      throw InvalidArgument(std::string("filter_file: ") + e.what());
    }
    target->set_relevance_filter(std::move(*filter));
    return 0;
  });
}

bool ServiceHandler::clear_relevance_filter(const std::string& collection) {
  return serve("clear_relevance_filter", "collection=" + collection,
               [&] { return registry_.lookup(collection)->clear_relevance_filter(); });
}

std::int64_t ServiceHandler::compact(const std::string& collection) {
  return serve("compact", "collection=" + collection,
               [&] { return static_cast<std::int64_t>(registry_.lookup(collection)->compact()); });
}

void ServiceHandler::stats(rpc::ServerStats& result) {
  result = serve("stats", "", [&] {
    rpc::ServerStats out;
    out.uptime_ms = elapsed_ms(started_);
    out.requests = static_cast<std::int64_t>(requests_.requests());
    out.errors = static_cast<std::int64_t>(requests_.errors());
    out.worker_threads = worker_threads_;
    out.max_batch = static_cast<std::int32_t>(limits_.max_batch);
    for (const auto& [name, collection] : registry_.all()) {
      rpc::CollectionStats stats = to_rpc(collection->stats());
      stats.name = name;
      out.collections.push_back(std::move(stats));
    }
    return out;
  });
}

void ServiceHandler::health(rpc::Health& result) {
  // Answered even while shutting down: saying so is its purpose.
  RequestScope scope(requests_, "health", "");
  result.serving = !shutting_down_.load();
  result.collections = static_cast<std::int32_t>(registry_.size());
  result.uptime_ms = elapsed_ms(started_);
}

}  // namespace quiver::api
