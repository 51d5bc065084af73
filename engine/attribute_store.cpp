#include "quiver/attribute_store.h"

#include <cmath>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "engine/filter_sql.h"
#include "engine/sqlite.h"
#include "filters/filter_expression.h"
#include "quiver/error.h"

namespace quiver {

std::string to_string(AttributeType type) {
  switch (type) {
    case AttributeType::String: return "string";
    case AttributeType::Int: return "int64";
    case AttributeType::Double: return "double";
    case AttributeType::Tags: return "tags";
  }
  return "unknown";
}

AttributeType type_of(const AttributeValue& value) {
  switch (value.index()) {
    case 0: return AttributeType::String;
    case 1: return AttributeType::Int;
    case 2: return AttributeType::Double;
    default: return AttributeType::Tags;
  }
}

namespace {

// 'qvat' in PRAGMA application_id marks a database as a quiver attribute store.
constexpr std::int64_t application_id = 0x71766174;

// Cached selections kept before the cache is emptied (expressions are usually few: one
// per query template); bounds the memory a stream of distinct expressions can take.
constexpr std::size_t max_cached_selections = 256;

constexpr const char* schema_sql = R"(
CREATE TABLE attribute_names(
  name_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  type INTEGER NOT NULL);
CREATE TABLE vectors(id INTEGER PRIMARY KEY);
CREATE TABLE attribute_values(
  name_id INTEGER NOT NULL,
  value NOT NULL,
  id INTEGER NOT NULL,
  PRIMARY KEY(name_id, value, id)) WITHOUT ROWID;
CREATE INDEX attribute_values_by_id ON attribute_values(id, name_id);
)";

// Ids are uint64 in quiver and int64 in SQLite: stored bit for bit.
std::int64_t to_sql(std::uint64_t id) { return static_cast<std::int64_t>(id); }
std::uint64_t from_sql(std::int64_t id) { return static_cast<std::uint64_t>(id); }

bool is_keyword(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return upper == "AND" || upper == "OR" || upper == "NOT" || upper == "IN" || upper == "CONTAINS";
}

void check_name(std::string_view name) {
  auto start = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  auto rest = [&](char c) { return start(c) || (c >= '0' && c <= '9') || c == '.'; };
  bool valid = !name.empty() && start(name.front());
  for (char c : name) valid = valid && rest(c);
  if (!valid || is_keyword(name)) {
    throw InvalidArgument("attribute name '" + std::string(name) +
                          "' is not usable in filters; expected [A-Za-z_][A-Za-z0-9_.]* and not a keyword "
                          "(AND, OR, NOT, IN, CONTAINS)");
  }
}

void check_value(std::string_view name, const AttributeValue& value) {
  if (const auto* number = std::get_if<double>(&value); number != nullptr && !std::isfinite(*number)) {
    throw InvalidArgument("attribute '" + std::string(name) + "' = " + std::to_string(*number) +
                          ": doubles must be finite");
  }
}

}  // namespace

struct AttributeStore::Impl {
  std::filesystem::path path;
  mutable std::mutex mutex;  // one connection: every use of it, and the cache, is serialised
  engine::sqlite::Database db;
  engine::AttributeCatalogue catalogue;  // mirror of attribute_names
  std::uint64_t generation = 0;

  struct Cached {
    std::uint64_t generation;
    std::shared_ptr<const AllowedIds> ids;
  };
  mutable std::unordered_map<std::string, Cached> cache;

  // Prepared once, reused for every write and read.
  engine::sqlite::Statement insert_vector;
  engine::sqlite::Statement insert_name;
  engine::sqlite::Statement delete_attribute;
  engine::sqlite::Statement insert_value;
  engine::sqlite::Statement delete_vector_values;
  engine::sqlite::Statement delete_vector;
  engine::sqlite::Statement vector_has_values;
  engine::sqlite::Statement select_vector;
  engine::sqlite::Statement select_values;
  engine::sqlite::Statement count_vectors;

  Impl(std::filesystem::path file, const std::string& filename, int flags, std::string label)
      : path(std::move(file)),
        db(filename, flags, std::move(label)),
        insert_vector(prepared_after_setup(), "INSERT OR IGNORE INTO vectors(id) VALUES (?1)"),
        insert_name(db, "INSERT INTO attribute_names(name, type) VALUES (?1, ?2)"),
        delete_attribute(db, "DELETE FROM attribute_values WHERE id = ?1 AND name_id = ?2"),
        insert_value(db, "INSERT OR IGNORE INTO attribute_values(name_id, value, id) VALUES (?1, ?2, ?3)"),
        delete_vector_values(db, "DELETE FROM attribute_values WHERE id = ?1"),
        delete_vector(db, "DELETE FROM vectors WHERE id = ?1"),
        vector_has_values(db, "SELECT 1 FROM attribute_values WHERE id = ?1 LIMIT 1"),
        select_vector(db, "SELECT 1 FROM vectors WHERE id = ?1"),
        select_values(db, "SELECT name_id, value FROM attribute_values WHERE id = ?1 ORDER BY name_id, value"),
        count_vectors(db, "SELECT count(*) FROM vectors") {
    load_catalogue();
  }

  // Runs before the statements are prepared (they need the tables): sets the
  // connection up and creates or validates the schema.
  engine::sqlite::Database& prepared_after_setup() {
    auto pragma = [&](const char* name) {
      engine::sqlite::Statement statement(db, std::string("PRAGMA ") + name);
      return statement.step() ? statement.column_int64(0) : 0;
    };
    // The first read is where SQLite notices a file that is not a database.
    std::int64_t app = pragma("application_id");
    std::int64_t version = pragma("user_version");
    std::int64_t tables = 0;
    {
      engine::sqlite::Statement count(db, "SELECT count(*) FROM sqlite_schema");
      if (count.step()) tables = count.column_int64(0);
    }
    if (app == 0 && version == 0 && tables == 0) {
      engine::sqlite::Transaction create(db);
      db.execute(schema_sql);
      db.execute("PRAGMA application_id = " + std::to_string(application_id));
      db.execute("PRAGMA user_version = " + std::to_string(attribute_store_format_version));
      create.commit();
    } else if (app != application_id) {
      throw CorruptFile("'" + db.label() + "' is a SQLite database but not a quiver attribute store (application_id " +
                        std::to_string(app) + ", expected " + std::to_string(application_id) + ")");
    } else if (version > attribute_store_format_version || version < 1) {
      throw IncompatibleVersion("'" + db.label() + "' has attribute store format " + std::to_string(version) +
                                "; this build reads 1 to " + std::to_string(attribute_store_format_version));
    }
    // WAL: readers never block the writer and a commit is one append. synchronous=FULL
    // syncs the log on every commit, so an acknowledged write survives power loss, not
    // only kill -9.
    db.execute("PRAGMA journal_mode = WAL");
    db.execute("PRAGMA synchronous = FULL");
    db.execute("PRAGMA foreign_keys = OFF");
    return db;
  }

  void load_catalogue() {
    catalogue.clear();
    engine::sqlite::Statement names(db, "SELECT name, name_id, type FROM attribute_names");
    while (names.step()) {
      auto type = names.column_int64(2);
      if (type < 0 || type > static_cast<int>(AttributeType::Tags)) {
        throw CorruptFile("'" + db.label() + "': attribute '" + names.column_text(0) + "' has unknown type code " +
                          std::to_string(type));
      }
      catalogue[names.column_text(0)] = {names.column_int64(1), static_cast<AttributeType>(type)};
    }
  }

  const engine::AttributeColumn& column_for(std::string_view name, const AttributeValue& value) {
    check_name(name);
    check_value(name, value);
    auto type = type_of(value);
    auto it = catalogue.find(name);
    if (it != catalogue.end()) {
      if (it->second.type != type) {
        throw InvalidArgument("attribute '" + std::string(name) + "' holds " + to_string(it->second.type) +
                              " values; got a " + to_string(type) + " value");
      }
      return it->second;
    }
    insert_name.start().bind(1, name).bind(2, static_cast<std::int64_t>(type)).run();
    auto name_id = sqlite3_last_insert_rowid(db.handle());
    return catalogue.emplace(std::string(name), engine::AttributeColumn{name_id, type}).first->second;
  }

  void bind_value(int index, const AttributeValue& value) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            insert_value.bind(index, std::string_view(v));
          } else if constexpr (!std::is_same_v<T, std::vector<std::string>>) {
            insert_value.bind(index, v);
          }
        },
        value);
  }

  void write_one(std::uint64_t id, std::string_view name, const AttributeValue& value) {
    const auto& column = column_for(name, value);
    insert_vector.start().bind(1, to_sql(id)).run();
    delete_attribute.start().bind(1, to_sql(id)).bind(2, column.name_id).run();
    if (const auto* tags = std::get_if<std::vector<std::string>>(&value)) {
      for (const auto& tag : *tags) {
        insert_value.start().bind(1, column.name_id).bind(2, std::string_view(tag)).bind(3, to_sql(id)).run();
      }
    } else {
      insert_value.start().bind(1, column.name_id);
      bind_value(2, value);
      insert_value.bind(3, to_sql(id)).run();
    }
  }

  // Runs `body` in one transaction; on failure the catalogue mirror is reloaded, since
  // names the transaction added were rolled back with it.
  template <typename Body>
  void write(Body&& body) {
    std::lock_guard lock(mutex);
    try {
      engine::sqlite::Transaction transaction(db);
      body();
      transaction.commit();
    } catch (...) {
      load_catalogue();
      throw;
    }
    ++generation;
    cache.clear();
  }

  AttributeValue read_value(engine::sqlite::Statement& statement, AttributeType type) const {
    switch (type) {
      case AttributeType::String: return statement.column_text(1);
      case AttributeType::Int: return statement.column_int64(1);
      case AttributeType::Double: return statement.column_double(1);
      case AttributeType::Tags: return std::vector<std::string>{statement.column_text(1)};
    }
    return {};
  }
};

AttributeStore::AttributeStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AttributeStore::AttributeStore(AttributeStore&&) noexcept = default;
AttributeStore& AttributeStore::operator=(AttributeStore&&) noexcept = default;
AttributeStore::~AttributeStore() = default;

AttributeStore AttributeStore::open(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path)) {
    throw InvalidArgument("attribute database path '" + path.string() + "' is a directory; expected a file");
  }
  return AttributeStore(std::make_unique<Impl>(path, path.string(),
                                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                               path.string()));
}

AttributeStore AttributeStore::in_memory() {
  return AttributeStore(std::make_unique<Impl>(std::filesystem::path(), ":memory:",
                                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                               "in-memory database"));
}

void AttributeStore::set(std::uint64_t id, std::string_view name, const AttributeValue& value) {
  impl_->write([&] { impl_->write_one(id, name, value); });
}

void AttributeStore::set(std::uint64_t id, const Attributes& attributes) {
  impl_->write([&] {
    for (const auto& [name, value] : attributes) impl_->write_one(id, name, value);
  });
}

void AttributeStore::set_many(std::span<const std::uint64_t> ids, std::span<const Attributes> attributes) {
  if (ids.size() != attributes.size()) {
    throw InvalidArgument("set_many: " + std::to_string(ids.size()) + " ids but " + std::to_string(attributes.size()) +
                          " attribute maps; expected one map per id");
  }
  impl_->write([&] {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      for (const auto& [name, value] : attributes[i]) impl_->write_one(ids[i], name, value);
    }
  });
}

bool AttributeStore::erase(std::uint64_t id) {
  bool erased = false;
  impl_->write([&] {
    impl_->delete_vector_values.start().bind(1, to_sql(id)).run();
    impl_->delete_vector.start().bind(1, to_sql(id)).run();
    erased = impl_->db.changes() > 0;
  });
  return erased;
}

bool AttributeStore::erase(std::uint64_t id, std::string_view name) {
  bool erased = false;
  impl_->write([&] {
    auto it = impl_->catalogue.find(name);
    if (it == impl_->catalogue.end()) return;
    impl_->delete_attribute.start().bind(1, to_sql(id)).bind(2, it->second.name_id).run();
    erased = impl_->db.changes() > 0;
    // An id left without attributes leaves the universe that NOT complements within.
    bool has_more = impl_->vector_has_values.start().bind(1, to_sql(id)).step();
    impl_->vector_has_values.start();
    if (!has_more) impl_->delete_vector.start().bind(1, to_sql(id)).run();
  });
  return erased;
}

Attributes AttributeStore::get(std::uint64_t id) const {
  std::lock_guard lock(impl_->mutex);
  std::map<std::int64_t, std::pair<std::string, AttributeType>> names;
  for (const auto& [name, column] : impl_->catalogue) names[column.name_id] = {name, column.type};
  Attributes out;
  auto& values = impl_->select_values.start().bind(1, to_sql(id));
  while (values.step()) {
    auto it = names.find(values.column_int64(0));
    if (it == names.end()) {
      throw CorruptFile("'" + impl_->db.label() + "': id " + std::to_string(id) + " has a value for unknown name_id " +
                        std::to_string(values.column_int64(0)));
    }
    const auto& [name, type] = it->second;
    auto value = impl_->read_value(values, type);
    auto [slot, inserted] = out.try_emplace(name, value);
    if (!inserted && type == AttributeType::Tags) {
      std::get<std::vector<std::string>>(slot->second).push_back(std::get<std::vector<std::string>>(value).front());
    }
  }
  if (out.empty()) throw NotFound("id " + std::to_string(id) + " has no attributes in the store");
  return out;
}

bool AttributeStore::contains(std::uint64_t id) const {
  std::lock_guard lock(impl_->mutex);
  bool found = impl_->select_vector.start().bind(1, to_sql(id)).step();
  impl_->select_vector.start();
  return found;
}

std::size_t AttributeStore::size() const {
  std::lock_guard lock(impl_->mutex);
  auto& count = impl_->count_vectors.start();
  std::size_t rows = count.step() ? static_cast<std::size_t>(count.column_int64(0)) : 0;
  count.start();
  return rows;
}

std::map<std::string, AttributeType, std::less<>> AttributeStore::schema() const {
  std::lock_guard lock(impl_->mutex);
  std::map<std::string, AttributeType, std::less<>> out;
  for (const auto& [name, column] : impl_->catalogue) out.emplace(name, column.type);
  return out;
}

std::shared_ptr<const AllowedIds> AttributeStore::select(std::string_view expression) const {
  // Parsing needs no lock and rejects bad syntax before the store is touched.
  auto tree = filters::parse_filter(expression);
  auto key = filters::normalise(tree);
  std::lock_guard lock(impl_->mutex);
  if (auto it = impl_->cache.find(key); it != impl_->cache.end() && it->second.generation == impl_->generation) {
    return it->second.ids;
  }
  auto query = engine::compile_filter(tree, impl_->catalogue);
  engine::sqlite::Statement statement(impl_->db, query.sql);
  for (std::size_t i = 0; i < query.parameters.size(); ++i) {
    int index = static_cast<int>(i + 1);
    std::visit([&](const auto& value) {
      using T = std::decay_t<decltype(value)>;
      if constexpr (std::is_same_v<T, std::string>) {
        statement.bind(index, std::string_view(value));
      } else {
        statement.bind(index, value);
      }
    }, query.parameters[i]);
  }
  std::vector<std::uint64_t> ids;
  while (statement.step()) ids.push_back(from_sql(statement.column_int64(0)));
  auto result = std::make_shared<const AllowedIds>(std::move(ids));
  if (impl_->cache.size() >= max_cached_selections) impl_->cache.clear();
  impl_->cache[key] = {impl_->generation, result};
  return result;
}

std::uint64_t AttributeStore::generation() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->generation;
}

const std::filesystem::path& AttributeStore::path() const { return impl_->path; }

}  // namespace quiver
