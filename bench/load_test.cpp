// quiver-load-test: the Thrift service under load. Starts a quiver-server in this
// process (api::Server on a free loopback port, a temporary data directory), loads
// Fashion-MNIST into a collection through the client API, then runs N client threads,
// each on its own connection, searching for T seconds; reports QPS, errors and latency
// percentiles. Then it stops the server (which checkpoints), opens the same collection
// in-process and runs the same searches from N threads directly, so that the ratio of
// the two QPS figures is the cost of the service layer on this machine.
//
// Without upserts, the service's answers to the first 200 queries are scored against
// exact search (recall@k; hits tied with the k-th true distance count as found).
//
// --upsert-fraction 0.1 makes that share of operations single-record upserts of new
// ids; afterwards every acknowledged upsert must come back from a search for its own
// vector (exit 1 otherwise).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "api/client_connection.h"
#include "api/request_limits.h"
#include "api/server.h"
#include "quiver/collection.h"
#include "quiver/error.h"
#include "quiver/exact_search.h"
#include "quiver/vector_io.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::filesystem::path base = QUIVER_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz";
  std::filesystem::path queries = QUIVER_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz";
  std::size_t rows = 20000;
  std::size_t clients = 4;
  double seconds = 5;
  int k = 10;
  int ef = 64;
  std::string spec = "hnsw16,efc100,f32";
  double upsert_fraction = 0;
  int server_threads = 0;  // 0: clients + 2
  std::uint64_t seed = 1;
};

constexpr std::size_t recall_queries = 200;

struct ThreadResult {
  std::vector<double> latencies_ms;
  std::size_t errors = 0;
  std::vector<std::int64_t> upserted;  // acknowledged
};

double percentile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  const auto index = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

quiver::rpc::SearchRequest request_for(std::span<const float> vector, const Options& options) {
  quiver::rpc::SearchRequest request;
  request.vector.assign(vector.begin(), vector.end());
  request.k = options.k;
  request.ef = options.ef;
  return request;
}

void load(quiver::api::ClientConnection& connection, const quiver::Matrix& base, std::size_t rows) {
  constexpr std::size_t batch = 500;
  for (std::size_t first = 0; first < rows; first += batch) {
    std::vector<quiver::rpc::Record> records;
    for (std::size_t i = first; i < std::min(rows, first + batch); ++i) {
      quiver::rpc::Record record;
      record.id = static_cast<std::int64_t>(i);
      const auto row = base.row(i);
      record.vector.assign(row.begin(), row.end());
      records.push_back(std::move(record));
    }
    quiver::api::call_service([&] { return connection.client().upsert("load", records); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quiver-load-test: QPS and latency of quiver-server against in-process search.", "quiver-load-test"};
  Options options;
  app.add_option("--base", options.base, "Vectors to load")->capture_default_str();
  app.add_option("--queries", options.queries, "Query vectors")->capture_default_str();
  app.add_option("--rows", options.rows, "Base rows to load (the rest feed upserts)")->capture_default_str();
  app.add_option("--clients", options.clients, "Client threads, one connection each")->capture_default_str();
  app.add_option("--seconds", options.seconds, "Duration of each phase")->capture_default_str();
  app.add_option("--k", options.k)->capture_default_str();
  app.add_option("--ef", options.ef)->capture_default_str();
  app.add_option("--spec", options.spec)->capture_default_str();
  app.add_option("--upsert-fraction", options.upsert_fraction, "Share of operations that upsert a new id")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--server-threads", options.server_threads, "Server workers (0: clients + 2)");
  app.add_option("--seed", options.seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const quiver::Matrix base = quiver::read_vectors(options.base);
    const quiver::Matrix queries = quiver::read_vectors(options.queries);
    options.rows = std::min(options.rows, base.rows);
    const auto work = std::filesystem::temp_directory_path() /
                      ("quiver-load-test-" + std::to_string(static_cast<long long>(::getpid())));
    std::filesystem::remove_all(work);

    quiver::api::ServerConfig config;
    config.port = 0;
    config.data_dir = work;
    config.threads = options.server_threads > 0 ? options.server_threads : static_cast<int>(options.clients) + 2;
    config.log_level = quiver::api::LogLevel::Warning;
    config.log_interval_s = 0;
    auto server = std::make_unique<quiver::api::Server>(config);
    std::atomic<int> port{0};
    std::thread serving([&] {
      try {
        server->run([&](int bound) { port.store(bound); });
      } catch (const std::exception& error) {
        std::fprintf(stderr, "error: the server failed: %s\n", error.what());
        port.store(-1);
      }
    });
    // On a failure below, the server must stop before its thread can be joined.
    struct StopOnExit {
      std::unique_ptr<quiver::api::Server>& server;
      std::thread& thread;
      ~StopOnExit() {
        if (thread.joinable()) {
          server->stop();
          thread.join();
        }
      }
    } stop_on_exit{server, serving};
    while (port.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (port.load() < 0) return 1;

    {
      quiver::api::ClientConnection admin("127.0.0.1", port.load());
      quiver::api::call_service([&] {
        admin.client().create_collection("load", options.spec, quiver::rpc::Metric::L2, static_cast<int>(base.cols));
      });
      const auto start = Clock::now();
      load(admin, base, options.rows);
      std::printf("loaded %zu vectors of dim %zu through the service in %.1f s\n", options.rows, base.cols,
                  std::chrono::duration<double>(Clock::now() - start).count());
    }

    // Recall is measured only on a collection that does not change under the searches.
    const bool measure_recall = options.upsert_fraction == 0;
    const std::size_t scored_queries = measure_recall ? std::min(recall_queries, queries.rows) : 0;
    std::vector<std::vector<quiver::Hit>> truth;
    if (measure_recall) {
      truth = quiver::exact_search(base.view().slice(0, options.rows), queries.view().slice(0, scored_queries),
                                   static_cast<std::size_t>(options.k), quiver::Metric::L2);
    }
    std::vector<std::vector<quiver::rpc::Hit>> answers(scored_queries);  // each written by one client

    // Phase 1: through the server.
    std::vector<ThreadResult> results(options.clients);
    std::atomic<std::int64_t> next_new_id{static_cast<std::int64_t>(options.rows)};
    const auto end = Clock::now() + std::chrono::duration<double>(options.seconds);
    std::vector<std::thread> clients;
    for (std::size_t c = 0; c < options.clients; ++c) {
      clients.emplace_back([&, c] {
        ThreadResult& result = results[c];
        std::mt19937_64 rng(options.seed + c);
        std::uniform_real_distribution<double> coin(0.0, 1.0);
        quiver::api::ClientConnection connection("127.0.0.1", port.load());
        for (std::size_t q = c; Clock::now() < end; q += options.clients) {
          const auto start = Clock::now();
          try {
            if (coin(rng) < options.upsert_fraction) {
              const std::int64_t id = next_new_id.fetch_add(1);
              quiver::rpc::Record record;
              record.id = id;
              const auto row = base.row(static_cast<std::size_t>(id) % base.rows);
              record.vector.assign(row.begin(), row.end());
              connection.client().upsert("load", {record});
              result.upserted.push_back(id);
            } else {
              std::vector<quiver::rpc::Hit> hits;
              connection.client().search(hits, "load", request_for(queries.row(q % queries.rows), options));
              if (q < scored_queries) answers[q] = std::move(hits);
            }
          } catch (const apache::thrift::TException&) {
            ++result.errors;
          }
          result.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        }
      });
    }
    for (auto& t : clients) t.join();

    std::vector<double> latencies;
    std::size_t errors = 0;
    std::vector<std::int64_t> upserted;
    for (auto& result : results) {
      latencies.insert(latencies.end(), result.latencies_ms.begin(), result.latencies_ms.end());
      errors += result.errors;
      upserted.insert(upserted.end(), result.upserted.begin(), result.upserted.end());
    }
    const double service_qps = static_cast<double>(latencies.size()) / options.seconds;
    const double p50 = percentile(latencies, 0.5);
    const double p99 = percentile(latencies, 0.99);
    std::printf("service:    %zu clients, %.1f s: %zu requests (%.0f%% upserts), %.0f QPS, %zu errors, p50 %.2f ms, "
                "p99 %.2f ms\n",
                options.clients, options.seconds, latencies.size(), options.upsert_fraction * 100, service_qps, errors,
                p50, p99);

    if (measure_recall) {
      std::size_t found = 0;
      std::size_t answered = 0;
      for (std::size_t q = 0; q < scored_queries; ++q) {
        if (answers[q].empty()) continue;
        ++answered;
        const float bound = truth[q].back().score * (1 + 1e-5f);
        for (const auto& hit : answers[q]) found += hit.score <= bound;
      }
      std::printf("recall@%d:  %.4f over the first %zu queries (exact search over the %zu loaded rows)\n", options.k,
                  answered ? static_cast<double>(found) / static_cast<double>(answered * truth.front().size()) : 0.0,
                  answered, options.rows);
    }

    // Every acknowledged upsert must be stored (get) and searchable by its own vector.
    // A graph search is approximate, so a miss at ef 200 is retried with a window as
    // wide as the collection before it counts as missing.
    std::size_t missing = 0;
    std::size_t wide_retries = 0;
    if (!upserted.empty()) {
      quiver::api::ClientConnection checker("127.0.0.1", port.load());
      const auto found = [&](std::int64_t id, int ef) {
        std::vector<quiver::rpc::Hit> hits;
        auto request = request_for(base.row(static_cast<std::size_t>(id) % base.rows), options);
        request.k = 100;  // Fashion-MNIST has exact duplicates; the id may share rank 0
        request.ef = ef;
        quiver::api::call_service([&] { checker.client().search(hits, "load", request); });
        return std::any_of(hits.begin(), hits.end(), [id](const auto& hit) { return hit.id == id; });
      };
      for (const std::int64_t id : upserted) {
        quiver::rpc::Record record;
        quiver::api::call_service([&] { checker.client().get(record, "load", id); });  // NotFound: a lost write
        if (found(id, 200)) continue;
        ++wide_retries;
        if (!found(id, static_cast<int>(quiver::api::RequestLimits::max_ef))) {
          ++missing;
          std::printf("upserts:    id %lld is stored but no search for its own vector finds it\n",
                      static_cast<long long>(id));
        }
      }
      std::printf("upserts:    %zu acknowledged, all stored; %zu needed a wider search, %zu not found by a search "
                  "for their own vector\n",
                  upserted.size(), wide_retries, missing);
    }

    server->stop();
    serving.join();
    server.reset();  // closes the collection before it is opened again below

    // Phase 2: the same searches in-process, on the collection the server checkpointed.
    quiver::Collection collection = quiver::Collection::open(work / "load");
    std::atomic<std::size_t> done{0};
    const auto local_end = Clock::now() + std::chrono::duration<double>(options.seconds);
    std::vector<std::thread> locals;
    for (std::size_t c = 0; c < options.clients; ++c) {
      locals.emplace_back([&, c] {
        std::size_t count = 0;
        for (std::size_t q = c; Clock::now() < local_end; q += options.clients) {
          quiver::CollectionSearchRequest request;
          const auto row = queries.row(q % queries.rows);
          request.vector.assign(row.begin(), row.end());
          request.k = static_cast<std::size_t>(options.k);
          request.ef = static_cast<std::size_t>(options.ef);
          collection.search(request);
          ++count;
        }
        done += count;
      });
    }
    for (auto& t : locals) t.join();
    const double local_qps = static_cast<double>(done.load()) / options.seconds;
    std::printf("in-process: %zu threads: %.0f QPS; service / in-process = %.2f\n", options.clients, local_qps,
                service_qps / local_qps);
    std::filesystem::remove_all(work);
    return errors == 0 && missing == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
}
