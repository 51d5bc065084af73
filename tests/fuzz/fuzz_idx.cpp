// Fuzzes the IDX reader, plain and gzipped. Input: one selector byte, then the payload.
// Selector bit 0: images or labels reader; bits 1-2: the payload is a plain .idx file (0),
// the raw bytes of a .gz file (1, exercising zlib's damaged-stream and transparent paths),
// or an IDX payload that the harness gzips itself (2, so that mutations reach the IDX
// parser behind a valid stream); high nibble: row cap.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "tests/fuzz/fuzz_support.h"

namespace {

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

std::filesystem::path write_gzipped(const std::uint8_t* data, std::size_t size) {
  auto path = quiver::fuzz::scratch_directory() / "input-idx.gz";
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "wb1"));
  if (!file) std::abort();
  if (size > 0 && gzwrite(file.get(), data, static_cast<unsigned>(size)) != static_cast<int>(size)) std::abort();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const std::size_t max_rows = quiver::fuzz::max_rows_from(selector);
  const std::uint8_t* payload = data + 1;
  const std::size_t payload_size = size - 1;
  std::filesystem::path path;
  switch ((selector >> 1) % 4) {
    case 1:
      path = quiver::fuzz::write_input("input-raw.gz", payload, payload_size);
      break;
    case 2:
      path = write_gzipped(payload, payload_size);
      break;
    default:
      path = quiver::fuzz::write_input("input.idx", payload, payload_size);
      break;
  }
  quiver::fuzz::read_either_and_round_trip(path, selector, max_rows);
  return 0;
}
