// Per-vector metadata (string, int64, double and tag-list attributes keyed by the vector
// id) in a SQLite database, and the evaluation of filter expressions over it into the
// allowed-id sets that filtered search walks with (see filtered_search.h).
//
// Each attribute name has one type, fixed by its first value. Filter expressions:
//   category = "shoes" AND price < 50 AND tags CONTAINS "sale"
//   NOT (brand IN ("acme", "zenith") OR rating >= 4.5)
// = != < <= > >= compare scalars (int64 and double compare with each other; strings
// compare bytewise), IN tests membership in a list, CONTAINS tests a tag list; NOT binds
// tighter than AND, AND tighter than OR. A comparison on an attribute that a vector lacks
// is false, so `NOT category = "shoes"` admits vectors without a category while
// `category != "shoes"` does not. NOT complements within the ids that have attributes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "quiver/allowed_ids.h"
#include "quiver/export.h"

namespace quiver {

// Format version of the attribute database this build writes (PRAGMA user_version);
// it reads this and older.
inline constexpr int attribute_store_format_version = 1;

enum class AttributeType { String, Int, Double, Tags };

// "string", "int64", "double", "tags"
QUIVER_API std::string to_string(AttributeType type);

// A tag list is a set: stored without duplicates, read back sorted.
using AttributeValue = std::variant<std::string, std::int64_t, double, std::vector<std::string>>;
using Attributes = std::map<std::string, AttributeValue, std::less<>>;

QUIVER_API AttributeType type_of(const AttributeValue& value);

class QUIVER_API AttributeStore {
 public:
  // Opens the database at `path`, creating it (and nothing above it) when missing. Throws
  // CorruptFile naming the file when it is not SQLite or not an attribute store,
  // IncompatibleVersion when a newer quiver wrote it, IoError when it cannot be opened.
  static AttributeStore open(const std::filesystem::path& path);
  // A private in-memory database, gone when the store is destroyed (tests, benchmarks).
  static AttributeStore in_memory();

  AttributeStore(AttributeStore&&) noexcept;
  AttributeStore& operator=(AttributeStore&&) noexcept;
  ~AttributeStore();

  // Each write is one transaction, durable when it returns (WAL, synchronous=FULL), and
  // replaces the named attributes' previous values. Throws InvalidArgument, writing
  // nothing, for an empty or ill-formed name ([A-Za-z_][A-Za-z0-9_.]*, not a filter
  // keyword), a value of another type than the attribute holds, or a non-finite double.
  void set(std::uint64_t id, std::string_view name, const AttributeValue& value);
  void set(std::uint64_t id, const Attributes& attributes);
  // ids[i] gets attributes[i]; all of them in one transaction.
  void set_many(std::span<const std::uint64_t> ids, std::span<const Attributes> attributes);
  // Removes all attributes of `id`; false when it had none.
  bool erase(std::uint64_t id);
  // Removes one attribute of `id`; false when it did not have it.
  bool erase(std::uint64_t id, std::string_view name);

  // Throws NotFound naming the id when it has no attributes.
  Attributes get(std::uint64_t id) const;
  bool contains(std::uint64_t id) const;
  std::size_t size() const;  // ids with at least one attribute
  // The attribute names ever set, with their types.
  std::map<std::string, AttributeType, std::less<>> schema() const;

  // The ids `expression` admits. Results are cached per normalised expression until
  // the next write (so repeated queries with one filter evaluate it once). Throws
  // InvalidArgument for a syntax error (naming the column and what was expected), an
  // unknown attribute, or an operator or value that does not fit the attribute's type.
  std::shared_ptr<const AllowedIds> select(std::string_view expression) const;
  // Bumped by every write; cached selections from an older generation are discarded.
  std::uint64_t generation() const;

  const std::filesystem::path& path() const;  // empty for in_memory()

 private:
  struct Impl;
  explicit AttributeStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quiver
