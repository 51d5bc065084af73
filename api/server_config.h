// quiver-server's settings: defaults, overridden by a JSON file (--config), overridden
// by command-line flags. The JSON keys are the flags' names without the dashes in
// front ("port", "data-dir", "max-frame-bytes", ...).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "api/log.h"

namespace quiver::api {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 9090;                      // 0: any free port (printed once listening)
  std::filesystem::path data_dir = "quiver-data";
  // Worker threads; each serves one connection at a time, so this also bounds the open
  // connections (more wait in the listen backlog).
  int threads = 16;
  std::size_t max_frame_bytes = 16384000;  // Thrift's usual default; larger frames close the connection
  std::size_t max_batch = 1000;            // items per upsert/remove/search_batch
  LogLevel log_level = LogLevel::Info;
  int log_interval_s = 10;              // request summary period; 0: none
  // A connection that sends nothing for this long is closed, so that idle clients
  // cannot hold every worker; a half-sent frame counts as idle too.
  int idle_timeout_ms = 60000;
  std::size_t checkpoint_every = 50000;  // logged writes between automatic checkpoints
  // Each collection's CollectionOptions of the same names: the tombstone share at which a
  // checkpoint compacts, and the share of keys an attention graph has not learned at which
  // a checkpoint learns it again. In [0, 1]; 0: only on compact().
  double compact_deleted_fraction = 0.2;
  double relearn_inserted_fraction = 0.1;

  // Throws InvalidArgument naming the first field out of range.
  void validate() const;

  // Applies the keys present in `json` on top of this; throws InvalidArgument for an
  // unknown key or a value of the wrong type, naming it.
  void merge_json(const nlohmann::json& json);
  // Reads and merges a JSON file; NotFound when it cannot be opened, InvalidArgument
  // (naming the file) when it is not valid JSON.
  void merge_file(const std::filesystem::path& path);
};

}  // namespace quiver::api
