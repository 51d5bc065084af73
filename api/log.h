// The server's log: timestamped lines on stderr, filtered by a level chosen at start-up.
// No logging library is available on the target systems, and one line per event on
// stderr is what service managers (systemd, docker) collect anyway.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

namespace quiver::api {

enum class LogLevel { Debug, Info, Warning, Error, Off };

// "debug", "info", "warning" (or "warn"), "error", "off"; throws InvalidArgument naming
// the accepted spellings otherwise.
LogLevel parse_log_level(std::string_view text);
std::string to_string(LogLevel level);

// "2024-05-01T12:00:00.123Z": UTC with milliseconds, the prefix of every log line.
std::string log_timestamp();

class Log {
 public:
  explicit Log(LogLevel level) : level_(level) {}

  bool enabled(LogLevel level) const { return level >= level_ && level != LogLevel::Off; }
  // Writes "2024-05-01T12:00:00.123Z info  <message>" as one line; lines from
  // concurrent threads never interleave.
  void write(LogLevel level, std::string_view message);

  void debug(std::string_view message) { if (enabled(LogLevel::Debug)) write(LogLevel::Debug, message); }
  void info(std::string_view message) { if (enabled(LogLevel::Info)) write(LogLevel::Info, message); }
  void warning(std::string_view message) { if (enabled(LogLevel::Warning)) write(LogLevel::Warning, message); }
  void error(std::string_view message) { if (enabled(LogLevel::Error)) write(LogLevel::Error, message); }

 private:
  LogLevel level_;
  std::mutex mutex_;
};

}  // namespace quiver::api
