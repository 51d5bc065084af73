// The C++ side of a quiver-server client: one framed-binary Thrift connection, and the
// translation of the service's typed exceptions back into quiver::Error subclasses, so
// that tools (the `quiver client` commands, quiver-load-test) report a remote failure
// like a local one.
#pragma once

#include <memory>
#include <string>

#include "quiver/error.h"
#include "quiver_rpc/Quiver.h"

namespace apache::thrift::transport {
class TTransport;
}

namespace quiver::api {

class ClientConnection {
 public:
  // Connects; throws IoError naming host and port when the server cannot be reached.
  ClientConnection(const std::string& host, int port, int timeout_ms = 30000);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  rpc::QuiverClient& client() { return *client_; }

 private:
  std::shared_ptr<apache::thrift::transport::TTransport> transport_;
  std::unique_ptr<rpc::QuiverClient> client_;
};

// Runs `call` (a lambda around one client method) and rethrows the service's
// exceptions as InvalidArgument, NotFound, or Error (Conflict, Unavailable), and a
// broken connection as IoError.
template <class Call>
auto call_service(Call&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const rpc::InvalidArgument& e) {
    throw InvalidArgument(e.message);
  } catch (const rpc::NotFound& e) {
    throw NotFound(e.message);
  } catch (const rpc::Conflict& e) {
    throw Error("conflict: " + e.message);
  } catch (const rpc::Unavailable& e) {
    throw Error("server unavailable: " + e.message);
  } catch (const apache::thrift::TException& e) {
    throw IoError(std::string("connection to quiver-server failed: ") + e.what());
  }
}

}  // namespace quiver::api
