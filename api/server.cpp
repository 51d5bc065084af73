#include "api/server.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thrift/TConfiguration.h>
#include <thrift/TOutput.h>
#include <thrift/concurrency/ThreadFactory.h>
#include <thrift/concurrency/ThreadManager.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TServerFramework.h>
#include <thrift/server/TThreadPoolServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TServerSocket.h>
#include <thrift/transport/TTransportException.h>

#include "api/service_handler.h"
#include "quiver/index_spec.h"
#include "quiver/error.h"

namespace quiver::api {

namespace {

using apache::thrift::TConfiguration;
using apache::thrift::transport::TTransport;

// TFramedTransportFactory builds its transports with Thrift's default limits; this one
// passes ours, so that an oversized frame is refused before any of it is buffered.
class LimitedFramedTransportFactory : public apache::thrift::transport::TTransportFactory {
 public:
  explicit LimitedFramedTransportFactory(std::shared_ptr<TConfiguration> config) : config_(std::move(config)) {}
  std::shared_ptr<TTransport> getTransport(std::shared_ptr<TTransport> transport) override {
    return std::make_shared<apache::thrift::transport::TFramedTransport>(std::move(transport), config_);
  }

 private:
  std::shared_ptr<TConfiguration> config_;
};

// Thrift's own messages (a client sent garbage, a socket timed out) in the server's
// line format; Thrift takes a plain function, so they bypass the level filter.
void thrift_output(const char* message) {
  const std::string line = log_timestamp() + " warning thrift: " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

// Thrift calls preServe() from serve() once the socket listens: the moment to announce
// the port, and to honour a stop() that came before there was anything to stop.
class Server::ListeningHook : public apache::thrift::server::TServerEventHandler {
 public:
  ListeningHook(Server& server, std::shared_ptr<apache::thrift::transport::TServerSocket> socket)
      : server_(server), socket_(std::move(socket)) {}
  // Set by run() on the thread that then calls serve(), which calls preServe().
  std::function<void(int)> on_listening;
  void preServe() override {
    if (on_listening) on_listening(bound_port());
    if (server_.stop_requested_.load()) server_.server_->stop();
  }

 private:
  // Asked of the socket itself: with port 0 only the kernel knows which one it chose.
  int bound_port() const {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (getsockname(socket_->getSocketFD(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return socket_->getPort();
    }
    if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }

  Server& server_;
  std::shared_ptr<apache::thrift::transport::TServerSocket> socket_;
};

Server::Server(const ServerConfig& config)
    : config_(config),
      log_(config.log_level),
      requests_(log_, std::chrono::seconds(config.log_interval_s)),
      registry_(config.data_dir, CollectionOptions{.checkpoint_every = config.checkpoint_every,
                                                   .compact_deleted_fraction = config.compact_deleted_fraction,
                                                   .relearn_inserted_fraction = config.relearn_inserted_fraction,
                                                   .threads = 0}) {
  namespace transport = apache::thrift::transport;
  namespace concurrency = apache::thrift::concurrency;
  config_.validate();
  apache::thrift::GlobalOutput.setOutputFunction(&thrift_output);
  log_.info("data directory '" + registry_.directory().string() + "': " + std::to_string(registry_.size()) +
            " collections opened");
  for (const std::string& failure : registry_.open_failures()) {
    log_.error("collection not served: " + failure);
  }
  for (const auto& [name, collection] : registry_.all()) {
    const std::string recovery = collection->stats().index_recovery;
    if (!recovery.empty()) log_.warning("collection '" + name + "': " + recovery);
  }
  handler_ = std::make_shared<ServiceHandler>(registry_, requests_, log_, RequestLimits{.max_batch = config_.max_batch},
                                              config_.threads);

  const int frame = static_cast<int>(config_.max_frame_bytes);
  // A message cannot be larger than its frame; the protocol also checks every
  // container length against what is left of it, so a forged list size fails fast.
  auto thrift_config = std::make_shared<TConfiguration>(frame, frame);

  const std::size_t container_limit = std::max(config_.max_batch, IndexSpec::max_dim);

  auto socket = std::make_shared<transport::TServerSocket>(config_.host, config_.port);
  socket->setRecvTimeout(config_.idle_timeout_ms);
  socket->setSendTimeout(config_.idle_timeout_ms);

  workers_ = concurrency::ThreadManager::newSimpleThreadManager(static_cast<std::size_t>(config_.threads));
  workers_->threadFactory(std::make_shared<concurrency::ThreadFactory>());
  workers_->start();

  auto thrift_server = std::make_shared<apache::thrift::server::TThreadPoolServer>(
      std::make_shared<rpc::QuiverProcessor>(handler_), socket,
      std::make_shared<LimitedFramedTransportFactory>(thrift_config),
      // Strict reads: a message must start with the protocol's version word, so stray
      // bytes fail at the first four instead of being taken for a method name. The
      // container limit: generated code resizes a list to its claimed length before
      // reading an element, so a forged length of 2^30 records would allocate ~100 GiB.
      // No valid request has a longer list than a batch or a vector.
      std::make_shared<apache::thrift::protocol::TBinaryProtocolFactory>(
          /*string_limit=*/frame, /*container_limit=*/static_cast<std::int32_t>(container_limit),
          /*strict_read=*/true, /*strict_write=*/true),
      workers_);
  // A connection per worker; further clients wait in the listen backlog rather than in
  // an unbounded task queue.
  thrift_server->setConcurrentClientLimit(config_.threads);
  hook_ = std::make_shared<ListeningHook>(*this, socket);
  thrift_server->setServerEventHandler(hook_);
  server_ = thrift_server;
}

Server::~Server() {
  // Only reached without run() having finished (a throw): the pool must not outlive
  // the handler its tasks call.
  if (workers_) workers_->stop();
}

std::size_t Server::run(const std::function<void(int port)>& on_listening) {
  hook_->on_listening = on_listening;
  try {
    server_->serve();
  } catch (const apache::thrift::transport::TTransportException& error) {
    throw IoError("cannot listen on " + config_.host + ":" + std::to_string(config_.port) + ": " + error.what());
  }
  // serve() has returned once every connection closed; the workers are idle.
  workers_->stop();
  log_.info("stopped serving; checkpointing " + std::to_string(registry_.size()) + " collections");
  const auto failures = registry_.checkpoint_all();
  for (const std::string& failure : failures) log_.error("checkpoint failed: " + failure);
  log_.info("shutdown complete");
  return failures.size();
}

void Server::stop() {
  if (stop_requested_.exchange(true)) return;
  log_.info("shutting down: refusing new requests, finishing those in flight");
  handler_->begin_shutdown();
  server_->stop();
}

}  // namespace quiver::api
