// quiver-server: serves the collections of one data directory over Thrift (see
// quiver.thrift). Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when it
// cannot start or a collection failed to checkpoint at shutdown, 2 for a usage error.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "api/server.h"
#include "api/server_config.h"
#include "api/shutdown_signal.h"
#include "quiver/error.h"

int main(int argc, char** argv) {
  // Before any thread exists, so that every thread inherits the blocked mask and the
  // signals reach only the waiter.
  quiver::api::ShutdownSignal signals;

  CLI::App app{"quiver-server: the quiver vector search service (Thrift, framed binary protocol).",
               "quiver-server"};
  quiver::api::ServerConfig defaults;
  std::string config_file;
  std::string host = defaults.host;
  int port = defaults.port;
  std::string data_dir = defaults.data_dir.string();
  int threads = defaults.threads;
  std::size_t max_frame_bytes = defaults.max_frame_bytes;
  std::size_t max_batch = defaults.max_batch;
  std::string log_level = to_string(defaults.log_level);
  int log_interval = defaults.log_interval_s;
  int idle_timeout_ms = defaults.idle_timeout_ms;
  std::size_t checkpoint_every = defaults.checkpoint_every;
  double compact_deleted_fraction = defaults.compact_deleted_fraction;
  double relearn_inserted_fraction = defaults.relearn_inserted_fraction;

  app.add_option("--config", config_file, "JSON file with any of the options below (keys without '--'); "
                                          "flags given on the command line win")
      ->check(CLI::ExistingFile);
  auto* host_option = app.add_option("--host", host, "Address to listen on")->capture_default_str();
  auto* port_option = app.add_option("--port", port, "TCP port; 0 picks a free one (printed)")->capture_default_str();
  auto* data_option = app.add_option("--data-dir", data_dir, "Directory holding the collections (created if missing)")
                          ->capture_default_str();
  auto* threads_option =
      app.add_option("--threads", threads, "Worker threads = concurrent connections")->capture_default_str();
  auto* frame_option =
      app.add_option("--max-frame-bytes", max_frame_bytes, "Largest request frame accepted")->capture_default_str();
  auto* batch_option = app.add_option("--max-batch", max_batch, "Most items per upsert, remove or search_batch")
                           ->capture_default_str();
  auto* level_option = app.add_option("--log-level", log_level, "debug (one line per request), info, warning, error, off")
                           ->capture_default_str();
  auto* interval_option = app.add_option("--log-interval", log_interval, "Seconds between request summaries (0: none)")
                              ->capture_default_str();
  auto* idle_option = app.add_option("--idle-timeout-ms", idle_timeout_ms, "Close connections silent this long")
                          ->capture_default_str();
  auto* checkpoint_option =
      app.add_option("--checkpoint-every", checkpoint_every, "Logged writes between automatic checkpoints")
          ->capture_default_str();
  auto* compact_option =
      app.add_option("--compact-deleted-fraction", compact_deleted_fraction,
                     "A checkpoint compacts a collection whose tombstones reach this share (0: only on compact)")
          ->capture_default_str();
  auto* relearn_option =
      app.add_option("--relearn-inserted-fraction", relearn_inserted_fraction,
                     "A checkpoint learns an attention graph again once this share of its keys is new "
                     "(0: only on compact)")
          ->capture_default_str();
  app.footer("Example: quiver-server --port 0 --data-dir /var/lib/quiver --threads 32");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }

  try {
    quiver::api::ServerConfig config;
    if (!config_file.empty()) config.merge_file(config_file);
    if (host_option->count() > 0) config.host = host;
    if (port_option->count() > 0) config.port = port;
    if (data_option->count() > 0) config.data_dir = data_dir;
    if (threads_option->count() > 0) config.threads = threads;
    if (frame_option->count() > 0) config.max_frame_bytes = max_frame_bytes;
    if (batch_option->count() > 0) config.max_batch = max_batch;
    if (level_option->count() > 0) config.log_level = quiver::api::parse_log_level(log_level);
    if (interval_option->count() > 0) config.log_interval_s = log_interval;
    if (idle_option->count() > 0) config.idle_timeout_ms = idle_timeout_ms;
    if (checkpoint_option->count() > 0) config.checkpoint_every = checkpoint_every;
    if (compact_option->count() > 0) config.compact_deleted_fraction = compact_deleted_fraction;
    if (relearn_option->count() > 0) config.relearn_inserted_fraction = relearn_inserted_fraction;
    config.validate();

    quiver::api::Server server(config);
    signals.on_signal([&server](int signal) {
      server.log().info(std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM"));
      server.stop();
    });
    const std::size_t failed = server.run([&config](int bound_port) {
      // The one line on stdout: scripts and tests wait for it to learn the port.
      std::printf("listening on %s:%d\n", config.host.c_str(), bound_port);
      std::fflush(stdout);
    });
    return failed == 0 ? 0 : 1;
  } catch (const quiver::Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: internal error: %s\n", error.what());
    return 1;
  }
}
