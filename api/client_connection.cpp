#include "api/client_connection.h"

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <thrift/transport/TTransportException.h>

namespace quiver::api {

ClientConnection::ClientConnection(const std::string& host, int port, int timeout_ms) {
  namespace transport = apache::thrift::transport;
  auto socket = std::make_shared<transport::TSocket>(host, port);
  socket->setConnTimeout(timeout_ms);
  socket->setRecvTimeout(timeout_ms);
  socket->setSendTimeout(timeout_ms);
  transport_ = std::make_shared<transport::TFramedTransport>(socket);
  client_ = std::make_unique<rpc::QuiverClient>(std::make_shared<apache::thrift::protocol::TBinaryProtocol>(transport_));
  try {
    transport_->open();
  } catch (const transport::TTransportException& error) {
    throw IoError("cannot connect to quiver-server at " + host + ":" + std::to_string(port) + ": " + error.what());
  }
}

ClientConnection::~ClientConnection() {
  try {
    transport_->close();
  } catch (const apache::thrift::TException&) {
    // Closing a connection the server already dropped: nothing left to release.
  }
}

}  // namespace quiver::api
