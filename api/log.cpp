#include "api/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "quiver/error.h"

namespace quiver::api {

LogLevel parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::Debug;
  if (text == "info") return LogLevel::Info;
  if (text == "warning" || text == "warn") return LogLevel::Warning;
  if (text == "error") return LogLevel::Error;
  if (text == "off") return LogLevel::Off;
  throw InvalidArgument("unknown log level '" + std::string(text) +
                        "': expected debug, info, warning, error or off");
}

std::string to_string(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warning: return "warning";
    case LogLevel::Error: return "error";
    case LogLevel::Off: return "off";
  }
  return "unknown";
}

std::string log_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[40];
  const std::size_t length = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(stamp + length, sizeof stamp - length, ".%03dZ", static_cast<int>(millis));
  return stamp;
}

void Log::write(LogLevel level, std::string_view message) {
  // Formatted before taking the lock, written with one call under it, so that a slow
  // stderr delays only writers, never the formatting of other threads.
  std::string line = log_timestamp() + " " + to_string(level) + " ";
  line.append(message);
  line.push_back('\n');
  const std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace quiver::api
