// RAII wrappers over the SQLite C API: a connection (Connection) and prepared statements
// (Statement owns one; StatementRef borrows one from the connection's cache), with SQLite result
// codes mapped to nibble::Error kinds naming the database file. No schema and no queries here;
// every file of engine/history goes through these. SQL text is always a literal: values are bound.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "nibble/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace nibble::history::sql {

// Maps a SQLite result code to an Error: "<path>: <action>: <sqlite message>".
Error make_sqlite_error(int rc, const std::string& path, std::string_view action, std::string_view detail);
// True for errors after which a transaction cannot go on (I/O, full disk, corruption, locks).
bool is_fatal(const Error& error);

class Connection;

// Bind/step/column access over a statement handle; the owner decides its lifetime.
class StatementView {
 public:
  StatementView() = default;
  StatementView(sqlite3_stmt* stmt, Connection* db) : stmt_(stmt), db_(db) {}

  // Parameters are 1-based, as in SQL (?1, ?2, ...). Text is copied by SQLite.
  StatementView& bind(int index, std::int64_t value);
  StatementView& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  StatementView& bind(int index, bool value) { return bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
  StatementView& bind(int index, double value);
  StatementView& bind(int index, std::string_view text);
  StatementView& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  StatementView& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  StatementView& bind_blob(int index, const void* data, std::size_t bytes);
  StatementView& bind_null(int index);
  template <class T>
  StatementView& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }

  // true: a row is available; false: done.
  Result<bool> step();
  // Steps to completion, ignoring rows.
  Status run();

  bool is_null(int col) const;
  std::int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::optional<std::int64_t> opt_int64(int col) const;
  std::optional<double> opt_real(int col) const;

  void reset();
  sqlite3_stmt* handle() const { return stmt_; }

 protected:
  sqlite3_stmt* stmt_ = nullptr;
  Connection* db_ = nullptr;
  int bind_error_ = 0;
};

// Owns a statement prepared for one use (finalized on destruction).
class Statement : public StatementView {
 public:
  Statement() = default;
  Statement(sqlite3_stmt* stmt, Connection* db) : StatementView(stmt, db) {}
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
};

// Borrows a cached statement; resets it and clears its bindings when it goes out of scope.
class StatementRef : public StatementView {
 public:
  StatementRef(sqlite3_stmt* stmt, Connection* db) : StatementView(stmt, db) {}
  ~StatementRef();
  StatementRef(StatementRef&& other) noexcept;
  StatementRef(const StatementRef&) = delete;
  StatementRef& operator=(const StatementRef&) = delete;
  StatementRef& operator=(StatementRef&&) = delete;
};

// read_only_immutable: for a file in a folder that cannot be written and has no -wal file beside
// it; SQLite then reads it without locks or a WAL index (it cannot change while we read).
enum class OpenMode : std::uint8_t { read_write_create, read_write, read_only, read_only_immutable };

class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // `vfs` empty: SQLite's default. Opening is lazy in SQLite: a bad file shows at the first query.
  static Result<Connection> open(const std::string& path, OpenMode mode, const std::string& vfs = {});

  bool is_open() const { return db_ != nullptr; }
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  // Runs static SQL (schema, pragmas, transaction control). Never pass text built from data.
  Status exec(const char* sql);
  // A statement for one use.
  Result<Statement> prepare(std::string_view sql);
  // A statement prepared once per connection, keyed by the address of the literal `sql`.
  Result<StatementRef> cached(const char* sql);
  // Runs a pragma or query that returns one integer.
  Result<std::int64_t> query_int(const char* sql);

  std::int64_t last_insert_rowid() const;
  std::int64_t changes() const;
  bool in_transaction() const;
  bool is_read_only() const;  // the file itself was opened read-only
  void set_busy_timeout(int ms);

  Error error(int rc, std::string_view action) const;
  void close();

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

// Runs a body inside BEGIN/COMMIT (rolled back on error). `begin` e.g. "BEGIN IMMEDIATE".
template <class Fn>
auto in_transaction(Connection& db, const char* begin, Fn&& body) -> decltype(body()) {
  if (auto st = db.exec(begin); !st.ok()) return st.error();
  auto result = body();
  if (!result.ok()) {
    if (db.in_transaction()) (void)db.exec("ROLLBACK");
    return result;
  }
  if (auto st = db.exec("COMMIT"); !st.ok()) {
    if (db.in_transaction()) (void)db.exec("ROLLBACK");
    return st.error();
  }
  return result;
}

}  // namespace nibble::history::sql
