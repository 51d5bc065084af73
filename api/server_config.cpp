#include "api/server_config.h"

#include <fstream>
#include <limits>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "quiver/error.h"

namespace quiver::api {

namespace {

template <class T>
T integer(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number_integer()) {
    throw InvalidArgument("config key '" + key + "' is " + value.dump() + ": expected an integer");
  }
  const auto number = value.get<std::int64_t>();
  if (number < 0 || static_cast<std::uint64_t>(number) > std::numeric_limits<T>::max()) {
    throw InvalidArgument("config key '" + key + "' is " + value.dump() + ": out of range");
  }
  return static_cast<T>(number);
}

double fraction(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number()) throw InvalidArgument("config key '" + key + "' is " + value.dump() + ": expected a number");
  return value.get<double>();
}

std::string text(const nlohmann::json& value, const std::string& key) {
  if (!value.is_string()) throw InvalidArgument("config key '" + key + "' is " + value.dump() + ": expected a string");
  return value.get<std::string>();
}

}  // namespace

void ServerConfig::validate() const {
  if (port < 0 || port > 65535) throw InvalidArgument("port " + std::to_string(port) + " is out of range: expected 0 to 65535");
  if (threads < 1 || threads > 4096) throw InvalidArgument("threads " + std::to_string(threads) + " is out of range: expected 1 to 4096");
  // Below a few KiB not even one 784-dimensional vector fits; Thrift's frame size is an int.
  if (max_frame_bytes < 4096 || max_frame_bytes > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw InvalidArgument("max-frame-bytes " + std::to_string(max_frame_bytes) + " is out of range: expected 4096 to " +
                          std::to_string(std::numeric_limits<int>::max()));
  }
  if (max_batch < 1 || max_batch > 1000000) {
    throw InvalidArgument("max-batch " + std::to_string(max_batch) + " is out of range: expected 1 to 1000000");
  }
  if (log_interval_s < 0) throw InvalidArgument("log-interval " + std::to_string(log_interval_s) + " is negative");
  if (idle_timeout_ms < 0) throw InvalidArgument("idle-timeout-ms " + std::to_string(idle_timeout_ms) + " is negative");
  for (const auto& [name, value] : {std::pair{"compact-deleted-fraction", compact_deleted_fraction},
                                    std::pair{"relearn-inserted-fraction", relearn_inserted_fraction}}) {
    if (!(value >= 0 && value <= 1)) {
      throw InvalidArgument(std::string(name) + " " + std::to_string(value) + " is out of range: expected 0 to 1");
    }
  }
  if (data_dir.empty()) throw InvalidArgument("data-dir is empty: expected a directory for the collections");
}

void ServerConfig::merge_json(const nlohmann::json& json) {
  if (!json.is_object()) throw InvalidArgument("config is " + json.dump() + ": expected a JSON object");
  for (const auto& [key, value] : json.items()) {
    if (key == "host") host = text(value, key);
    else if (key == "port") port = integer<int>(value, key);
    else if (key == "data-dir") data_dir = text(value, key);
    else if (key == "threads") threads = integer<int>(value, key);
    else if (key == "max-frame-bytes") max_frame_bytes = integer<std::size_t>(value, key);
    else if (key == "max-batch") max_batch = integer<std::size_t>(value, key);
    else if (key == "log-level") log_level = parse_log_level(text(value, key));
    else if (key == "log-interval") log_interval_s = integer<int>(value, key);
    else if (key == "idle-timeout-ms") idle_timeout_ms = integer<int>(value, key);
    else if (key == "checkpoint-every") checkpoint_every = integer<std::size_t>(value, key);
    else if (key == "compact-deleted-fraction") compact_deleted_fraction = fraction(value, key);
    else if (key == "relearn-inserted-fraction") relearn_inserted_fraction = fraction(value, key);
    else {
      throw InvalidArgument("unknown config key '" + key +
                            "': expected host, port, data-dir, threads, max-frame-bytes, max-batch, log-level, "
                            "log-interval, idle-timeout-ms, checkpoint-every, compact-deleted-fraction or "
                            "relearn-inserted-fraction");
    }
  }
}

void ServerConfig::merge_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw NotFound("cannot open config file '" + path.string() + "'");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& error) {
    throw InvalidArgument("config file '" + path.string() + "' is not valid JSON: " + error.what());
  }
  try {
    merge_json(json);
  } catch (const InvalidArgument& error) {
    throw InvalidArgument("config file '" + path.string() + "': " + error.what());
  }
}

}  // namespace quiver::api
