// The machine a result was measured on, recorded with every result so that figures
// from different machines are never compared by accident.
#pragma once

#include <cstddef>
#include <string>

namespace quiver::bench {

struct Machine {
  std::string cpu_model;     // /proc/cpuinfo "model name"
  std::size_t cores = 0;     // hardware threads available
  std::string simd;          // widest vector extensions, e.g. "avx512f avx2 fma"
  std::string load_average;  // /proc/loadavg at start: other work on a shared machine skews timings

  // "<cpu model>, <cores> cores", the BENCH.md `machine` field.
  std::string summary() const;
};

Machine describe_machine();

}  // namespace quiver::bench
