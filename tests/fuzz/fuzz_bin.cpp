// Fuzzes the fbin / u8bin / ibin readers. Input: one selector byte (low bits: format,
// high nibble: row cap), then the file's bytes.
#include <cstddef>
#include <cstdint>

#include "quiver/error.h"
#include "quiver/vector_io.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::size_t max_rows = quiver::fuzz::max_rows_from(selector);
  try {
    switch (selector % 3) {
      case 0:
        quiver::fuzz::check_round_trip(
            quiver::read_vectors(quiver::fuzz::write_input("input.fbin", data + 1, size - 1), max_rows));
        break;
      case 1:
        quiver::fuzz::check_round_trip(
            quiver::read_vectors(quiver::fuzz::write_input("input.u8bin", data + 1, size - 1), max_rows));
        break;
      default:
        quiver::fuzz::check_round_trip(
            quiver::read_int_vectors(quiver::fuzz::write_input("input.ibin", data + 1, size - 1), max_rows));
        break;
    }
  } catch (const quiver::Error&) {
    // Rejecting the file is the expected outcome; anything else escapes and is a finding.
  }
  return 0;
}
