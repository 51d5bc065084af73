// quiver-server's core: a Thrift TThreadPoolServer (TFramedTransport with a frame-size
// limit, TBinaryProtocol) in front of a ServiceHandler and CollectionRegistry.
// TThreadPoolServer because each worker then owns one connection end to end (no
// libevent needed), and the pool size bounds both threads and open connections.
//
// Shutdown: stop() makes the handler refuse new requests (Unavailable), stops accepting,
// interrupts idle connections, lets in-flight requests finish, and then run()
// checkpoints every collection before it returns.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "api/collection_registry.h"
#include "api/log.h"
#include "api/request_log.h"
#include "api/server_config.h"

namespace apache::thrift::concurrency {
class ThreadManager;
}
namespace apache::thrift::server {
class TServer;
}

namespace quiver::api {

class ServiceHandler;

class Server {
 public:
  // Opens the data directory and every collection in it (logging the ones that fail),
  // and starts the worker pool; does not listen yet.
  explicit Server(const ServerConfig& config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens and serves until stop(); calls `on_listening(port)` once connections are
  // accepted (the real port when the config asked for 0). Returns after the shutdown
  // checkpoints; throws IoError when it cannot listen. Returns the number of
  // collections that failed to checkpoint.
  std::size_t run(const std::function<void(int port)>& on_listening);

  // Thread-safe, idempotent, may come before run() starts listening; not for a signal
  // handler (see shutdown_signal.h).
  void stop();

  Log& log() { return log_; }

 private:
  class ListeningHook;

  ServerConfig config_;
  Log log_;
  RequestLog requests_;
  CollectionRegistry registry_;
  std::shared_ptr<ServiceHandler> handler_;
  std::shared_ptr<ListeningHook> hook_;
  std::shared_ptr<apache::thrift::concurrency::ThreadManager> workers_;
  // Built in the constructor and never reassigned, so stop() may read it from any thread.
  std::shared_ptr<apache::thrift::server::TServer> server_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace quiver::api
