#include "bench/machine.h"

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace quiver::bench {
namespace {

// The value of the first "key : value" line of /proc/cpuinfo with this key.
std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos || line.rfind(key, 0) != 0) continue;
    const std::size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

}  // namespace

std::string Machine::summary() const {
  return (cpu_model.empty() ? "unknown CPU" : cpu_model) + ", " + std::to_string(cores) + " cores";
}

Machine describe_machine() {
  Machine machine;
  machine.cpu_model = cpuinfo_field("model name");
  machine.cores = std::thread::hardware_concurrency();

  std::istringstream flags(cpuinfo_field("flags"));
  std::vector<std::string> present;
  for (std::string flag; flags >> flag;) present.push_back(flag);
  for (const char* wanted : {"avx512f", "avx512bw", "avx512vl", "avx512_fp16", "avx2", "fma", "f16c", "sse4_2"}) {
    for (const std::string& flag : present) {
      if (flag == wanted) machine.simd += (machine.simd.empty() ? "" : " ") + flag;
    }
  }

  std::ifstream loadavg("/proc/loadavg");
  std::string one, five, fifteen;
  if (loadavg >> one >> five >> fifteen) machine.load_average = one + " " + five + " " + fifteen;
  return machine;
}

}  // namespace quiver::bench
