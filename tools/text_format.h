// Human-readable numbers for the CLI's summaries and tables: byte sizes, durations,
// rates. Pure functions, no locale dependence.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace quiver::cli {

// 1536 -> "1.5 KiB", 215000000 -> "205.0 MiB".
std::string format_bytes(std::uint64_t bytes);

// 0.0042 -> "4.2 ms", 73.4 -> "1m 13s", 7300 -> "2h 01m".
std::string format_duration(double seconds);

// Wall time since `start`, in seconds, for format_duration.
double seconds_since(std::chrono::steady_clock::time_point start);

// 1234567 -> "1,234,567".
std::string format_count(std::uint64_t count);

// A rate for tables and progress lines: 12.3, 4,560, 1.23M.
std::string format_rate(double per_second);

}  // namespace quiver::cli
