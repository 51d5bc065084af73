// `quiver client`: talks to a running quiver-server (api/quiver.thrift) instead of an
// index directory: list, stats, health, search (its queries from any file `quiver
// search` reads), set-filter (attaches a file `quiver train-filter` wrote),
// clear-filter and compact. Remote failures come back as quiver::Error subclasses
// (api/client_connection.h), so main() reports them like local ones.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "api/client_connection.h"
#include "command.h"
#include "dataset_input.h"
#include "quiver/error.h"
#include "text_format.h"

namespace quiver::cli {
namespace {

struct ClientArgs {
  std::string host = "127.0.0.1";
  int port = 9090;
  int timeout_ms = 30000;
  std::string collection;
  std::filesystem::path queries;
  std::filesystem::path filter_file;
  int k = 10;
  int ef = 0;
  std::string filter;
  double min_relevance = 0.0;
  std::size_t max_queries = all_rows;
  std::size_t batch = 100;
  bool print_all = false;
};

const char* metric_name(rpc::Metric::type metric) {
  switch (metric) {
    case rpc::Metric::L2: return "l2";
    case rpc::Metric::INNER_PRODUCT: return "ip";
    case rpc::Metric::COSINE: return "cosine";
  }
  return "unknown";
}

int run_list(const ClientArgs& args) {
  api::ClientConnection connection(args.host, args.port, args.timeout_ms);
  std::vector<std::string> names;
  api::call_service([&] { connection.client().list_collections(names); });
  for (const std::string& name : names) std::printf("%s\n", name.c_str());
  if (names.empty()) std::fprintf(stderr, "no collections\n");
  return 0;
}

int run_stats(const ClientArgs& args) {
  api::ClientConnection connection(args.host, args.port, args.timeout_ms);
  rpc::CollectionStats stats;
  api::call_service([&] { connection.client().describe_collection(stats, args.collection); });
  std::printf("collection          %s\n", stats.name.c_str());
  std::printf("spec                %s\n", stats.spec.c_str());
  std::printf("metric              %s\n", metric_name(stats.metric));
  std::printf("dim                 %d\n", stats.dim);
  std::printf("live vectors        %s\n", format_count(static_cast<std::uint64_t>(stats.size)).c_str());
  std::printf("deleted             %s\n", format_count(static_cast<std::uint64_t>(stats.deleted)).c_str());
  std::printf("memory              %s\n", format_bytes(static_cast<std::uint64_t>(stats.memory_bytes)).c_str());
  std::printf("last sequence       %lld\n", static_cast<long long>(stats.last_sequence));
  std::printf("checkpoint sequence %lld\n", static_cast<long long>(stats.checkpoint_sequence));
  std::printf("log entries         %lld\n", static_cast<long long>(stats.log_entries));
  std::printf("relevance filter    %s\n", stats.has_relevance_filter ? "yes" : "no");
  if (stats.spec.starts_with("attn")) {  // keys linked key to key, awaiting the next learning checkpoint
    std::printf("unlearned keys      %s\n", format_count(static_cast<std::uint64_t>(stats.inserted_since_learned)).c_str());
  }
  if (!stats.index_recovery.empty()) std::printf("index recovery      %s\n", stats.index_recovery.c_str());
  return 0;
}

int run_health(const ClientArgs& args) {
  api::ClientConnection connection(args.host, args.port, args.timeout_ms);
  rpc::Health health;
  api::call_service([&] { connection.client().health(health); });
  std::printf("%s, %d collections, up %s\n", health.serving ? "serving" : "shutting down", health.collections,
              format_duration(static_cast<double>(health.uptime_ms) / 1000.0).c_str());
  return health.serving ? 0 : 1;
}

int run_search(const ClientArgs& args) {
  require_file(args.queries, "queries");
  const VectorInput input = read_vector_input(args.queries, Hdf5Part::Test, args.max_queries);
  const Matrix& queries = input.vectors;
  if (args.batch < 1) throw InvalidArgument("--batch 0: expected at least 1");

  api::ClientConnection connection(args.host, args.port, args.timeout_ms);
  std::vector<std::vector<rpc::Hit>> results;
  results.reserve(queries.rows);
  const auto start = std::chrono::steady_clock::now();
  // Batches of requests per round trip: the network's latency is paid per batch.
  for (std::size_t first = 0; first < queries.rows; first += args.batch) {
    std::vector<rpc::SearchRequest> requests;
    for (std::size_t q = first; q < std::min(queries.rows, first + args.batch); ++q) {
      rpc::SearchRequest request;
      const auto row = queries.row(q);
      request.vector.assign(row.begin(), row.end());
      request.k = args.k;
      request.ef = args.ef;
      request.filter = args.filter;
      request.min_relevance = args.min_relevance;
      requests.push_back(std::move(request));
    }
    std::vector<std::vector<rpc::Hit>> batch;
    api::call_service([&] { connection.client().search_batch(batch, args.collection, requests); });
    for (auto& hits : batch) results.push_back(std::move(hits));
  }
  const double seconds = seconds_since(start);

  const std::size_t shown = args.print_all ? results.size() : std::min<std::size_t>(results.size(), 10);
  for (std::size_t q = 0; q < shown; ++q) {
    std::printf("%zu:", q);
    for (const rpc::Hit& hit : results[q]) std::printf(" %lld:%g", static_cast<long long>(hit.id), hit.score);
    std::printf("\n");
  }
  if (shown < results.size()) std::printf("... %zu more queries (--print-all prints them)\n", results.size() - shown);
  std::printf("%zu queries, k=%d, ef=%d through %s:%d: %s QPS (batches of %zu)\n", results.size(), args.k, args.ef,
              args.host.c_str(), args.port, format_rate(static_cast<double>(results.size()) / std::max(seconds, 1e-9)).c_str(),
              args.batch);
  return 0;
}

int run_set_filter(const ClientArgs& args) {
  require_file(args.filter_file, "relevance filter");
  std::ifstream in(args.filter_file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) throw IoError("cannot read " + args.filter_file.string());
  api::ClientConnection connection(args.host, args.port, args.timeout_ms);
  api::call_service([&] { connection.client().set_relevance_filter(args.collection, bytes); });
  std::printf("attached %s to collection %s\n", args.filter_file.string().c_str(), args.collection.c_str());
  return 0;
}

int run_clear_filter(const ClientArgs& args) {
  api::ClientConnection connection(args.host, args.port, args.timeout_ms);
  bool detached = false;
  api::call_service([&] { detached = connection.client().clear_relevance_filter(args.collection); });
  std::printf(detached ? "detached the relevance filter of collection %s\n"
                       : "collection %s has no relevance filter; nothing to detach\n",
              args.collection.c_str());
  return 0;
}

int run_compact(const ClientArgs& args) {
  api::ClientConnection connection(args.host, args.port, args.timeout_ms);
  std::int64_t dropped = 0;
  api::call_service([&] { dropped = connection.client().compact(args.collection); });
  std::printf("compacted collection %s: %lld tombstones dropped\n", args.collection.c_str(),
              static_cast<long long>(dropped));
  return 0;
}

}  // namespace

Command add_client_command(CLI::App& app) {
  auto args = std::make_shared<ClientArgs>();
  CLI::App* client = app.add_subcommand(
      "client", "Talk to a running quiver-server: list, stats, health, search, set-filter, clear-filter, compact");
  client->add_option("--host", args->host, "Server address")->capture_default_str();
  client->add_option("--port", args->port, "Server port")->capture_default_str();
  client->add_option("--timeout-ms", args->timeout_ms, "Connect and per-call timeout")->capture_default_str();
  client->require_subcommand(1, 1);
  client->footer("Example: quiver client --port 9090 search fmnist t10k-images-idx3-ubyte.gz --k 10");

  CLI::App* list = client->add_subcommand("list", "List the server's collections");
  CLI::App* stats = client->add_subcommand("stats", "Describe one collection");
  stats->add_option("collection", args->collection, "Collection name")->required();
  CLI::App* health = client->add_subcommand("health", "Whether the server is serving (exit 1 while it shuts down)");
  CLI::App* search = client->add_subcommand("search", "Search a collection with every query of a file");
  search->add_option("collection", args->collection, "Collection name")->required();
  search->add_option("queries", args->queries, "Query vectors (.fvecs, .fbin, .npy, IDX, HDF5 test set, ...)")
      ->required();
  search->add_option("--k", args->k, "Neighbours per query")->capture_default_str();
  search->add_option("--ef", args->ef, "Search window (0: the server's default, max(64, k))")->capture_default_str();
  search->add_option("--filter", args->filter, "Attribute filter, e.g. 'label = 3 AND tags CONTAINS \"sale\"'");
  search->add_option("--min-relevance", args->min_relevance, "Relevance threshold in [0, 1]")->capture_default_str();
  search->add_option("--max-queries", args->max_queries, "Use only the first N queries");
  search->add_option("--batch", args->batch, "Queries per search_batch call")->capture_default_str();
  search->add_flag("--print-all", args->print_all, "Print every query's results, not the first 10");
  CLI::App* set_filter =
      client->add_subcommand("set-filter", "Attach a relevance filter (a file quiver train-filter wrote)");
  set_filter->add_option("collection", args->collection, "Collection name")->required();
  set_filter->add_option("filter", args->filter_file, "Relevance filter file")->required();
  CLI::App* clear_filter = client->add_subcommand("clear-filter", "Detach a collection's relevance filter");
  clear_filter->add_option("collection", args->collection, "Collection name")->required();
  CLI::App* compact = client->add_subcommand("compact", "Drop a collection's tombstones now, then checkpoint");
  compact->add_option("collection", args->collection, "Collection name")->required();

  return {client, [args, list, stats, health, search, set_filter, clear_filter, compact]() {
            if (list->parsed()) return run_list(*args);
            if (stats->parsed()) return run_stats(*args);
            if (health->parsed()) return run_health(*args);
            if (search->parsed()) return run_search(*args);
            if (set_filter->parsed()) return run_set_filter(*args);
            if (clear_filter->parsed()) return run_clear_filter(*args);
            if (compact->parsed()) return run_compact(*args);
            return 2;
          }};
}

}  // namespace quiver::cli
