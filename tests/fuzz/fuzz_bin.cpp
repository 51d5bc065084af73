// Fuzzes the fbin / u8bin / ibin readers. Input: one selector byte (low bits: format,
// high nibble: row cap), then the file's bytes.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return quiver::fuzz::fuzz_vector_files(data, size, "input.fbin", "input.u8bin", "input.ibin");
}
