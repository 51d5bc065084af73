// Fuzzes the filter language: the parser, its normal form, and the evaluation of an
// expression by AttributeStore::select over a small in-memory store whose attributes
// cover every type. Input: the expression text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "filters/filter_expression.h"
#include "quiver/attribute_store.h"
#include "quiver/error.h"

namespace {

quiver::AttributeStore make_store() {
  auto store = quiver::AttributeStore::in_memory();
  for (std::uint64_t id = 0; id < 24; ++id) {
    quiver::Attributes attributes;
    attributes["category"] = std::string(id % 3 == 0 ? "shoes" : id % 3 == 1 ? "hats" : "bags");
    attributes["price"] = static_cast<std::int64_t>(id * 7 % 100) - 20;
    if (id % 4 != 0) attributes["rating"] = static_cast<double>(id % 5) + 0.5;
    attributes["tags"] = std::vector<std::string>{id % 2 ? "sale" : "new", "t" + std::to_string(id % 6)};
    if (id % 5 == 0) attributes["brand.name"] = std::string("acme");
    store.set(id, attributes);
  }
  return store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const quiver::AttributeStore store = make_store();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string normal;
  try {
    normal = quiver::filters::normalise(quiver::filters::parse_filter(text));
  } catch (const quiver::InvalidArgument&) {
    return 0;  // a syntax error is the expected outcome for most inputs
  }
  // The normal form is a cache key and is shown to users as the filter: it must parse,
  // and normalising it again must change nothing.
  std::string again;
  try {
    again = quiver::filters::normalise(quiver::filters::parse_filter(normal));
  } catch (const quiver::InvalidArgument&) {
    std::abort();
  }
  if (again != normal) std::abort();

  std::size_t admitted = 0;
  try {
    admitted = store.select(text)->size();
  } catch (const quiver::InvalidArgument&) {
    return 0;  // unknown attribute or type mismatch
  }
  // The same filter in its normal form admits the same ids.
  if (store.select(normal)->size() != admitted) std::abort();
  return 0;
}
