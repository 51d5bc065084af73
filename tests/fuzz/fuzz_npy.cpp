// Fuzzes the .npy reader (header dict parser and data). Input: one selector byte (low
// bit: float or int reader, high nibble: row cap), then the file's bytes.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::size_t max_rows = quiver::fuzz::max_rows_from(selector);
  auto path = quiver::fuzz::write_input("input.npy", data + 1, size - 1);
  quiver::fuzz::read_either_and_round_trip(path, selector, max_rows);
  return 0;
}
