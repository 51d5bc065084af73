// Thin RAII wrappers over the SQLite C API for the attribute store and the collection
// database: a connection that turns every failed call into a quiver::Error naming the
// database file, prepared statements, and a transaction that rolls back unless committed.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace quiver::engine::sqlite {

class Database {
 public:
  // `label` names the database in error messages (its path, or "in-memory database").
  Database(const std::string& filename, int flags, std::string label);

  sqlite3* handle() const { return db_.get(); }
  const std::string& label() const { return label_; }
  // Throws for any result but SQLITE_OK/ROW/DONE: CorruptFile for a file that is not a
  // database or is damaged, IoError otherwise; `doing` says what was attempted.
  int check(int result, std::string_view doing) const;
  void execute(const std::string& sql);
  std::int64_t changes() const { return sqlite3_changes64(db_.get()); }

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db_;
  std::string label_;
};

class Statement {
 public:
  Statement(const Database& db, std::string_view sql);

  // Resets the statement and clears its bindings for another run.
  Statement& start();
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, std::span<const std::byte> value);
  // Advances to the next row; false when the statement has finished.
  bool step();
  // Runs a statement that returns no rows.
  void run() {
    while (step()) {
    }
  }

  int column_type(int column) const { return sqlite3_column_type(statement_.get(), column); }
  std::int64_t column_int64(int column) const { return sqlite3_column_int64(statement_.get(), column); }
  double column_double(int column) const { return sqlite3_column_double(statement_.get(), column); }
  std::string column_text(int column) const;
  // Valid until the next step() or start() of this statement.
  std::span<const std::byte> column_blob(int column) const;

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
  };
  const Database* db_;
  std::unique_ptr<sqlite3_stmt, Finalize> statement_;
};

// BEGIN IMMEDIATE on construction (the write lock is taken up front, so a transaction
// never fails half-way on a lock upgrade); ROLLBACK on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Database* db_;
  bool open_ = true;
};

}  // namespace quiver::engine::sqlite
