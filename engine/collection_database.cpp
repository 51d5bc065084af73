#include "engine/collection_database.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "engine/attributes_json.h"
#include "quiver/error.h"

namespace quiver::engine {

namespace {

// 'qvcl' in PRAGMA application_id marks a database as a quiver collection.
constexpr std::int64_t application_id = 0x7176636c;

// How long a connection waits for a lock held by the other connection of this process
// (the reader during SQLite's own WAL checkpoints) before reporting an error.
constexpr int busy_timeout_ms = 10000;

// Vectors are stored as the host's float32 bytes; quiver targets little-endian x86-64
// and ARM, so the files move between them unchanged.
constexpr const char* schema_sql = R"(
CREATE TABLE config(key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
CREATE TABLE vectors(id INTEGER PRIMARY KEY, vector BLOB NOT NULL, attributes TEXT NOT NULL);
CREATE TABLE log(
  sequence INTEGER NOT NULL,
  id INTEGER NOT NULL,
  op INTEGER NOT NULL,
  PRIMARY KEY(sequence, id)) WITHOUT ROWID;
)";

// Ids are uint64 in quiver and int64 in SQLite: stored bit for bit.
std::int64_t to_sql(std::uint64_t value) { return static_cast<std::int64_t>(value); }
std::uint64_t from_sql(std::int64_t value) { return static_cast<std::uint64_t>(value); }

sqlite::Database connect(const std::filesystem::path& path, bool create) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  sqlite::Database db(path.string(), flags, path.string());
  sqlite3_busy_timeout(db.handle(), busy_timeout_ms);
  return db;
}

std::int64_t pragma(sqlite::Database& db, const char* name) {
  sqlite::Statement statement(db, std::string("PRAGMA ") + name);
  return statement.step() ? statement.column_int64(0) : 0;
}

// Tag lists as the AttributeStore reads them back, so that get() and the store agree.
Attributes normalised(const Attributes& attributes) {
  Attributes out = attributes;
  for (auto& [name, value] : out) {
    if (auto* tags = std::get_if<std::vector<std::string>>(&value)) {
      std::sort(tags->begin(), tags->end());
      tags->erase(std::unique(tags->begin(), tags->end()), tags->end());
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<CollectionDatabase> CollectionDatabase::create(const std::filesystem::path& path,
                                                               const std::string& name, const IndexSpec& spec) {
  if (std::filesystem::exists(path)) {
    throw InvalidArgument("collection database '" + path.string() + "' already exists");
  }
  return std::make_unique<CollectionDatabase>(Key{}, path, NewCollection{name, spec});
}

std::unique_ptr<CollectionDatabase> CollectionDatabase::open(const std::filesystem::path& path) {
  return std::make_unique<CollectionDatabase>(Key{}, path, std::nullopt);
}

CollectionDatabase::CollectionDatabase(Key, const std::filesystem::path& path,
                                       const std::optional<NewCollection>& create)
    : path_(path), write_db_(connect(path, create.has_value())) {
  set_up(create);
  read_config();
  read_db_.emplace(connect(path, false));
  select_record_.emplace(*read_db_, "SELECT vector, attributes FROM vectors WHERE id = ?1");
  select_attributes_.emplace(*read_db_, "SELECT attributes FROM vectors WHERE id = ?1");
  select_id_.emplace(*read_db_, "SELECT 1 FROM vectors WHERE id = ?1");
  read_counters();
}

void CollectionDatabase::set_up(const std::optional<NewCollection>& create) {
  // The first read is where SQLite notices a file that is not a database.
  std::int64_t app = pragma(write_db_, "application_id");
  std::int64_t version = pragma(write_db_, "user_version");
  // WAL: readers never block the writer and a commit is one append. synchronous=FULL
  // syncs the log on every commit, so an acknowledged write survives power loss, not
  // only kill -9. Set only once the file is known to be ours (or new).
  auto durable_writes = [&] {
    write_db_.execute("PRAGMA journal_mode = WAL");
    write_db_.execute("PRAGMA synchronous = FULL");
  };
  if (create) {
    durable_writes();
    sqlite::Transaction transaction(write_db_);
    write_db_.execute(schema_sql);
    sqlite::Statement insert(write_db_, "INSERT INTO config(key, value) VALUES (?1, ?2)");
    insert.start().bind(1, std::string_view("name")).bind(2, std::string_view(create->name)).run();
    auto spec_text = create->spec.to_string();
    insert.start().bind(1, std::string_view("spec")).bind(2, std::string_view(spec_text)).run();
    auto metric_text = to_string(create->spec.metric);
    insert.start().bind(1, std::string_view("metric")).bind(2, std::string_view(metric_text)).run();
    insert.start().bind(1, std::string_view("dim")).bind(2, static_cast<std::int64_t>(create->spec.dim)).run();
    write_db_.execute("PRAGMA application_id = " + std::to_string(application_id));
    write_db_.execute("PRAGMA user_version = " + std::to_string(collection_format_version));
    transaction.commit();
    return;
  }
  if (app == 0 && version == 0) {
    throw CorruptFile("'" + label() + "' holds no collection configuration (an interrupted create, or not a quiver " +
                      "collection database)");
  } else if (app != application_id) {
    throw CorruptFile("'" + label() + "' is a SQLite database but not a quiver collection (application_id " +
                      std::to_string(app) + ", expected " + std::to_string(application_id) + ")");
  } else if (version > collection_format_version || version < 1) {
    throw IncompatibleVersion("'" + label() + "' has collection format " + std::to_string(version) +
                              "; this build reads 1 to " + std::to_string(collection_format_version));
  }
  durable_writes();
}

void CollectionDatabase::read_config() {
  std::map<std::string, std::string, std::less<>> config;
  std::optional<std::int64_t> dim;
  sqlite::Statement rows(write_db_, "SELECT key, value FROM config");
  while (rows.step()) {
    auto key = rows.column_text(0);
    if (key == "dim" && rows.column_type(1) == SQLITE_INTEGER) dim = rows.column_int64(1);
    if (key == "checkpoint_sequence") {
      if (rows.column_type(1) != SQLITE_INTEGER) {
        throw CorruptFile("'" + label() + "': checkpoint_sequence '" + rows.column_text(1) + "' is not an integer");
      }
      checkpoint_sequence_ = from_sql(rows.column_int64(1));
      checkpointed_ = true;
    }
    config[key] = rows.column_text(1);
  }
  for (const char* key : {"name", "spec", "metric", "dim"}) {
    if (!config.contains(key)) throw CorruptFile("'" + label() + "': configuration lacks '" + key + "'");
  }
  if (!dim || *dim < 1 || *dim > static_cast<std::int64_t>(IndexSpec::max_dim)) {
    throw CorruptFile("'" + label() + "': dim '" + config["dim"] + "' is not a dimension in 1 to " +
                      std::to_string(IndexSpec::max_dim));
  }
  try {
    spec_ = IndexSpec::parse(config["spec"], parse_metric(config["metric"]), static_cast<std::size_t>(*dim));
  } catch (const InvalidArgument& error) {
    throw CorruptFile("'" + label() + "': stored spec '" + config["spec"] + "', metric '" + config["metric"] +
                      "' is invalid: " + error.what());
  }
  name_ = config["name"];
}

void CollectionDatabase::read_counters() {
  std::lock_guard lock(read_mutex_);
  sqlite::Statement summary(*read_db_, "SELECT count(*), max(sequence) FROM log");
  summary.step();
  log_entries_ = static_cast<std::size_t>(summary.column_int64(0));
  std::uint64_t newest = summary.column_type(1) == SQLITE_NULL ? 0 : from_sql(summary.column_int64(1));
  last_sequence_ = std::max(newest, checkpoint_sequence_.load());
}

std::uint64_t CollectionDatabase::log_upserts(std::span<const UpsertItem> items) {
  // Encoded before the transaction: a string JSON cannot hold fails with nothing written.
  std::vector<std::string> attributes(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      attributes[i] = attributes_to_json(normalised(items[i].attributes));
    } catch (const InvalidArgument& error) {
      throw InvalidArgument("item " + std::to_string(i) + " (id " + std::to_string(items[i].id) + "): " + error.what());
    }
  }
  std::lock_guard lock(write_mutex_);
  std::uint64_t sequence = last_sequence_.load() + 1;
  sqlite::Transaction transaction(write_db_);
  sqlite::Statement store(write_db_, "INSERT OR REPLACE INTO vectors(id, vector, attributes) VALUES (?1, ?2, ?3)");
  sqlite::Statement log(write_db_, "INSERT INTO log(sequence, id, op) VALUES (?1, ?2, ?3)");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    store.start()
        .bind(1, to_sql(item.id))
        .bind(2, std::as_bytes(std::span(item.vector)))
        .bind(3, std::string_view(attributes[i]))
        .run();
    log.start().bind(1, to_sql(sequence)).bind(2, to_sql(item.id)).bind(3, static_cast<std::int64_t>(LogOp::Upsert)).run();
  }
  transaction.commit();
  last_sequence_ = sequence;
  log_entries_ += items.size();
  return sequence;
}

std::vector<std::uint64_t> CollectionDatabase::log_removals(std::span<const std::uint64_t> ids) {
  std::lock_guard lock(write_mutex_);
  std::uint64_t sequence = last_sequence_.load() + 1;
  std::vector<std::uint64_t> removed;
  sqlite::Transaction transaction(write_db_);
  sqlite::Statement erase(write_db_, "DELETE FROM vectors WHERE id = ?1");
  sqlite::Statement log(write_db_, "INSERT INTO log(sequence, id, op) VALUES (?1, ?2, ?3)");
  for (auto id : ids) {
    erase.start().bind(1, to_sql(id)).run();
    if (write_db_.changes() == 0) continue;  // unknown, or repeated in `ids`
    log.start().bind(1, to_sql(sequence)).bind(2, to_sql(id)).bind(3, static_cast<std::int64_t>(LogOp::Remove)).run();
    removed.push_back(id);
  }
  if (removed.empty()) return removed;  // the transaction rolls back: it changed nothing
  transaction.commit();
  last_sequence_ = sequence;
  log_entries_ += removed.size();
  return removed;
}

void CollectionDatabase::record_checkpoint(std::uint64_t sequence) {
  std::lock_guard lock(write_mutex_);
  sqlite::Transaction transaction(write_db_);
  sqlite::Statement record(write_db_, "INSERT OR REPLACE INTO config(key, value) VALUES ('checkpoint_sequence', ?1)");
  record.start().bind(1, to_sql(sequence)).run();
  sqlite::Statement trim(write_db_, "DELETE FROM log WHERE sequence <= ?1");
  trim.start().bind(1, to_sql(sequence)).run();
  sqlite::Statement count(write_db_, "SELECT count(*) FROM log");
  count.step();
  auto remaining = static_cast<std::size_t>(count.column_int64(0));
  count.start();  // releases the read before COMMIT
  transaction.commit();
  checkpoint_sequence_ = sequence;
  checkpointed_ = true;
  log_entries_ = remaining;
}

std::vector<float> CollectionDatabase::decode_vector(std::span<const std::byte> blob, std::uint64_t id) const {
  if (blob.size() != spec_.dim * sizeof(float)) {
    throw CorruptFile("'" + label() + "': the vector of id " + std::to_string(id) + " has " +
                      std::to_string(blob.size()) + " bytes, expected " + std::to_string(spec_.dim * sizeof(float)) +
                      " for " + std::to_string(spec_.dim) + " float32 components");
  }
  std::vector<float> vector(spec_.dim);
  std::memcpy(vector.data(), blob.data(), blob.size());
  return vector;
}

std::optional<StoredRecord> CollectionDatabase::read(std::uint64_t id) const {
  std::lock_guard lock(read_mutex_);
  auto& select = select_record_->start().bind(1, to_sql(id));
  if (!select.step()) return std::nullopt;
  auto blob = select.column_blob(0);
  std::vector<std::byte> bytes(blob.begin(), blob.end());
  auto text = select.column_text(1);
  select.start();  // ends the read transaction before anything can throw
  return StoredRecord{decode_vector(bytes, id), attributes_from_json(text, label() + ", id " + std::to_string(id))};
}

std::optional<Attributes> CollectionDatabase::read_attributes(std::uint64_t id) const {
  std::lock_guard lock(read_mutex_);
  auto& select = select_attributes_->start().bind(1, to_sql(id));
  if (!select.step()) return std::nullopt;
  auto text = select.column_text(0);
  select.start();
  return attributes_from_json(text, label() + ", id " + std::to_string(id));
}

bool CollectionDatabase::contains(std::uint64_t id) const {
  std::lock_guard lock(read_mutex_);
  bool found = select_id_->start().bind(1, to_sql(id)).step();
  select_id_->start();
  return found;
}

std::vector<LoggedChange> CollectionDatabase::changes_after(std::uint64_t sequence) const {
  std::lock_guard lock(read_mutex_);
  std::map<std::uint64_t, LogOp> newest;
  sqlite::Statement rows(*read_db_, "SELECT id, op FROM log WHERE sequence > ?1 ORDER BY sequence");
  rows.start().bind(1, to_sql(sequence));
  while (rows.step()) {
    auto op = rows.column_int64(1);
    if (op != static_cast<std::int64_t>(LogOp::Upsert) && op != static_cast<std::int64_t>(LogOp::Remove)) {
      throw CorruptFile("'" + label() + "': log entry for id " + std::to_string(from_sql(rows.column_int64(0))) +
                        " has unknown operation " + std::to_string(op));
    }
    newest[from_sql(rows.column_int64(0))] = static_cast<LogOp>(op);
  }
  std::vector<LoggedChange> changes;
  changes.reserve(newest.size());
  for (const auto& [id, op] : newest) changes.push_back({id, op});
  return changes;
}

std::vector<std::uint64_t> CollectionDatabase::stored_ids() const {
  std::lock_guard lock(read_mutex_);
  sqlite::Statement rows(*read_db_, "SELECT id FROM vectors ORDER BY id");
  rows.start();
  std::vector<std::uint64_t> ids;
  while (rows.step()) ids.push_back(from_sql(rows.column_int64(0)));
  return ids;
}

std::optional<std::uint64_t> CollectionDatabase::checkpoint_sequence() const {
  if (!checkpointed_.load()) return std::nullopt;
  return checkpoint_sequence_.load();
}

}  // namespace quiver::engine
