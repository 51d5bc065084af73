#include "engine/sqlite.h"

#include "quiver/error.h"

namespace quiver::engine::sqlite {

Database::Database(const std::string& filename, int flags, std::string label) : label_(std::move(label)) {
  sqlite3* raw = nullptr;
  int result = sqlite3_open_v2(filename.c_str(), &raw, flags, nullptr);
  db_.reset(raw);  // closed by the deleter even when opening failed
  if (result != SQLITE_OK) {
    throw IoError("cannot open database '" + label_ + "': " +
                  (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(result)));
  }
  sqlite3_extended_result_codes(raw, 1);
}

int Database::check(int result, std::string_view doing) const {
  if (result == SQLITE_OK || result == SQLITE_ROW || result == SQLITE_DONE) return result;
  std::string message = "database '" + label_ + "': " + std::string(doing) + " failed: " +
                        sqlite3_errmsg(db_.get());
  int primary = result & 0xff;
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    throw CorruptFile("'" + label_ + "' is not a valid SQLite database (" + sqlite3_errmsg(db_.get()) + ")");
  }
  throw IoError(message);
}

void Database::execute(const std::string& sql) {
  check(sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr), sql);
}

Statement::Statement(const Database& db, std::string_view sql) : db_(&db) {
  sqlite3_stmt* raw = nullptr;
  int result = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                  &raw, nullptr);
  statement_.reset(raw);
  db.check(result, "preparing '" + std::string(sql) + "'");
}

Statement& Statement::start() {
  sqlite3_reset(statement_.get());
  sqlite3_clear_bindings(statement_.get());
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  db_->check(sqlite3_bind_int64(statement_.get(), index, value), "binding a parameter");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  db_->check(sqlite3_bind_double(statement_.get(), index, value), "binding a parameter");
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  db_->check(sqlite3_bind_text64(statement_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
             "binding a parameter");
  return *this;
}

bool Statement::step() {
  int result = sqlite3_step(statement_.get());
  if (result != SQLITE_ROW && result != SQLITE_DONE) {
    // Reset first so that the statement releases its locks before the exception unwinds.
    sqlite3_reset(statement_.get());
  }
  return db_->check(result, sqlite3_sql(statement_.get())) == SQLITE_ROW;
}

Statement& Statement::bind(int index, std::span<const std::byte> value) {
  db_->check(sqlite3_bind_blob64(statement_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT),
             "binding a parameter");
  return *this;
}

std::span<const std::byte> Statement::column_blob(int column) const {
  const auto* bytes = static_cast<const std::byte*>(sqlite3_column_blob(statement_.get(), column));
  auto size = sqlite3_column_bytes(statement_.get(), column);
  return bytes == nullptr ? std::span<const std::byte>() : std::span<const std::byte>(bytes, static_cast<std::size_t>(size));
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(statement_.get(), column);
  auto bytes = sqlite3_column_bytes(statement_.get(), column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(bytes));
}

Transaction::Transaction(Database& db) : db_(&db) { db.execute("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_->execute("COMMIT");
  open_ = false;
}

}  // namespace quiver::engine::sqlite
