// collection.sqlite, the durable half of a Collection (quiver/collection.h): its
// configuration, the float32 master copy of every live vector with its attributes, and
// the write log naming the ids each write changed since the last index checkpoint. A
// commit here is the durability point of an upsert or remove; the index and the
// AttributeStore are brought up to it afterwards, or by replay after a crash.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/sqlite.h"
#include "quiver/attribute_store.h"
#include "quiver/collection.h"
#include "quiver/index_spec.h"

namespace quiver::engine {

// Format version of collection.sqlite this build writes (PRAGMA user_version); it reads
// this and older.
inline constexpr int collection_format_version = 1;

enum class LogOp : std::int64_t { Upsert = 1, Remove = 2 };

// The newest logged operation on one id.
struct LoggedChange {
  std::uint64_t id = 0;
  LogOp op = LogOp::Upsert;
};

struct StoredRecord {
  std::vector<float> vector;
  Attributes attributes;
};

class CollectionDatabase {
  struct Key {};  // lets only the factories below call the public constructor

 public:
  // Makes the database at `path`, which must not exist yet.
  static std::unique_ptr<CollectionDatabase> create(const std::filesystem::path& path, const std::string& name,
                                                    const IndexSpec& spec);
  // Opens an existing database. Throws CorruptFile naming the file when it is not a
  // collection database or its configuration is damaged, IncompatibleVersion when a
  // newer quiver wrote it.
  static std::unique_ptr<CollectionDatabase> open(const std::filesystem::path& path);

  struct NewCollection {
    std::string name;
    IndexSpec spec;
  };
  CollectionDatabase(Key, const std::filesystem::path& path, const std::optional<NewCollection>& create);
  CollectionDatabase(const CollectionDatabase&) = delete;
  CollectionDatabase& operator=(const CollectionDatabase&) = delete;

  const std::string& name() const { return name_; }
  const IndexSpec& spec() const { return spec_; }

  // Writes. Each is one transaction, durable when it returns (WAL, synchronous=FULL);
  // concurrent calls are serialised. The caller has validated the items (dimension,
  // finite values, distinct ids, attributes); attributes are stored with their tag
  // lists sorted and without duplicates, as the AttributeStore reads them back.

  // Stores each item's vector and attributes, replacing an id's previous ones, and logs
  // the batch under the next sequence number, which it returns. Throws InvalidArgument,
  // writing nothing, when an attribute string is not valid UTF-8.
  std::uint64_t log_upserts(std::span<const UpsertItem> items);
  // Deletes the master copies of those `ids` that have one and logs their removal under
  // the next sequence number (none is used when no id had one). Returns those ids.
  std::vector<std::uint64_t> log_removals(std::span<const std::uint64_t> ids);
  // Records that the index checkpoint covers every write up to `sequence`, and drops
  // the log entries it covers.
  void record_checkpoint(std::uint64_t sequence);

  // Reads, safe concurrently with each other and with the writes (a second connection:
  // in WAL mode a reader never waits for a writer's fsync).
  std::optional<StoredRecord> read(std::uint64_t id) const;
  bool contains(std::uint64_t id) const;
  std::optional<Attributes> read_attributes(std::uint64_t id) const;
  // The newest logged operation on each id written after `sequence`.
  std::vector<LoggedChange> changes_after(std::uint64_t sequence) const;
  // Every id with a master copy, ascending.
  std::vector<std::uint64_t> stored_ids() const;

  std::uint64_t last_sequence() const { return last_sequence_.load(); }
  // Null until the first checkpoint is recorded.
  std::optional<std::uint64_t> checkpoint_sequence() const;
  std::size_t log_entries() const { return log_entries_.load(); }

 private:
  std::string label() const { return path_.string(); }
  void set_up(const std::optional<NewCollection>& create);
  void read_config();
  void read_counters();
  std::vector<float> decode_vector(std::span<const std::byte> blob, std::uint64_t id) const;

  std::filesystem::path path_;
  std::mutex write_mutex_;
  sqlite::Database write_db_;
  mutable std::mutex read_mutex_;
  std::optional<sqlite::Database> read_db_;  // opened once the schema exists
  mutable std::optional<sqlite::Statement> select_record_;
  mutable std::optional<sqlite::Statement> select_attributes_;
  mutable std::optional<sqlite::Statement> select_id_;

  std::string name_;
  IndexSpec spec_;
  std::atomic<std::uint64_t> last_sequence_ = 0;
  std::atomic<std::uint64_t> checkpoint_sequence_ = 0;
  std::atomic<bool> checkpointed_ = false;
  std::atomic<std::size_t> log_entries_ = 0;
};

}  // namespace quiver::engine
