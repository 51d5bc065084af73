// Fuzzes IndexSpec::parse. Input: a metric byte, a dimension byte pair, then the spec
// text. A spec that parses must print a canonical string that parses to the same spec.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "quiver/error.h"
#include "quiver/index_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  constexpr quiver::Metric metrics[] = {quiver::Metric::L2, quiver::Metric::InnerProduct, quiver::Metric::Cosine};
  const quiver::Metric metric = metrics[data[0] % 3];
  // Dimensions up to 2^17 cross max_dim (65536), so both sides of that check are reached.
  const std::size_t dim = (std::size_t{data[1]} << 9) | (std::size_t{data[2]} << 1) | (data[0] >> 7);
  const std::string_view text(reinterpret_cast<const char*>(data + 3), size - 3);
  quiver::IndexSpec spec;
  try {
    spec = quiver::IndexSpec::parse(text, metric, dim);
  } catch (const quiver::InvalidArgument&) {
    return 0;
  }
  const std::string canonical = spec.to_string();
  quiver::IndexSpec back;
  try {
    back = quiver::IndexSpec::parse(canonical, metric, dim);
  } catch (const quiver::InvalidArgument&) {
    std::abort();
  }
  if (back.to_string() != canonical || back.M != spec.M || back.primary != spec.primary ||
      back.rerank != spec.rerank || back.reduction != spec.reduction || back.reduced_dim != spec.reduced_dim ||
      back.graph != spec.graph || back.ef_construction != spec.ef_construction ||
      back.pq_sub_spaces != spec.pq_sub_spaces || back.pq_bits != spec.pq_bits ||
      back.query_neighbours != spec.query_neighbours) {
    std::abort();
  }
  return 0;
}
