// Connection and statement wrappers over the SQLite C API, and the map from SQLite result codes
// to nibble error kinds (with a hint the user can act on for the common failures).
#include "history/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

namespace nibble::history::sql {

namespace {

ErrorKind kind_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ErrorKind::busy;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_PROTOCOL: return ErrorKind::io;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT: return ErrorKind::format;
    case SQLITE_READONLY: return ErrorKind::read_only;
    case SQLITE_NOMEM: return ErrorKind::out_of_memory;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG: return ErrorKind::invalid_argument;
    case SQLITE_INTERRUPT: return ErrorKind::cancelled;
    default: return ErrorKind::internal;
  }
}

const char* hint_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL: return " (the disk is full: free some space; what was saved before is intact)";
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return " (another program holds a lock on the database: close it and retry)";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return " (the file is damaged or is not a Nibble history database)";
    case SQLITE_CANTOPEN: return " (check that the folder exists and is writable)";
    default: return "";
  }
}

// "file:/a%20b/history.db?immutable=1": the characters a URI path may not carry are escaped.
std::string immutable_uri(const std::string& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "file:";
  for (unsigned char ch : path) {
    if (ch == '%' || ch == '?' || ch == '#' || ch <= ' ' || ch >= 0x7f) {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "?immutable=1";
}

}  // namespace

Error make_sqlite_error(int rc, const std::string& path, std::string_view action, std::string_view detail) {
  return make_error(kind_of(rc), path, ": ", action, ": ", detail, hint_of(rc));
}

bool is_fatal(const Error& error) {
  return error.kind != ErrorKind::invalid_argument && error.kind != ErrorKind::not_found;
}

// ---- StatementView ----

StatementView& StatementView::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

StatementView& StatementView::bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

StatementView& StatementView::bind(int index, std::string_view text) {
  int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

StatementView& StatementView::bind_blob(int index, const void* data, std::size_t bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, data, bytes, SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

StatementView& StatementView::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Result<bool> StatementView::step() {
  if (bind_error_ != 0) return db_->error(bind_error_, "bind");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->error(rc, "query");
}

Status StatementView::run() {
  for (;;) {
    auto row = step();
    if (!row.ok()) return row.error();
    if (!*row) return {};
  }
}

bool StatementView::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
std::int64_t StatementView::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double StatementView::real(int col) const { return sqlite3_column_double(stmt_, col); }

std::string StatementView::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<std::int64_t> StatementView::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

std::optional<double> StatementView::opt_real(int col) const {
  if (is_null(col)) return std::nullopt;
  return real(col);
}

void StatementView::reset() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = 0;
}

// ---- Statement / StatementRef ----

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept : StatementView(other.stmt_, other.db_) {
  bind_error_ = other.bind_error_;
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = other.db_;
    bind_error_ = other.bind_error_;
  }
  return *this;
}

StatementRef::~StatementRef() { reset(); }

StatementRef::StatementRef(StatementRef&& other) noexcept : StatementView(other.stmt_, other.db_) {
  bind_error_ = other.bind_error_;
  other.stmt_ = nullptr;
}

// ---- Connection ----

Connection::~Connection() { close(); }

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)), cache_(std::move(other.cache_)) {
  other.cache_.clear();
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    cache_ = std::move(other.cache_);
    other.cache_.clear();
  }
  return *this;
}

void Connection::close() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  cache_.clear();
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

Result<Connection> Connection::open(const std::string& path, OpenMode mode, const std::string& vfs) {
  int flags = SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case OpenMode::read_write_create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
    case OpenMode::read_write: flags |= SQLITE_OPEN_READWRITE; break;
    case OpenMode::read_only: flags |= SQLITE_OPEN_READONLY; break;
    case OpenMode::read_only_immutable: flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI; break;
  }
  Connection c;
  c.path_ = path;
  const std::string name = mode == OpenMode::read_only_immutable ? immutable_uri(path) : path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags, vfs.empty() ? nullptr : vfs.c_str());
  c.db_ = raw;
  if (rc != SQLITE_OK) {
    std::string detail = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return make_sqlite_error(rc, path, "open", detail);
  }
  sqlite3_extended_result_codes(raw, 1);
  return c;
}

Error Connection::error(int rc, std::string_view action) const {
  std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return make_sqlite_error(rc, path_, action, detail);
}

Status Connection::exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error(rc, "exec");
  return {};
}

Result<Statement> Connection::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return error(rc, "prepare");
  return Statement(stmt, this);
}

Result<StatementRef> Connection::cached(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return StatementRef(it->second, this);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return error(rc, "prepare");
  cache_.emplace(sql, stmt);
  return StatementRef(stmt, this);
}

Result<std::int64_t> Connection::query_int(const char* sql) {
  NIBBLE_ASSIGN_OR_RETURN(auto stmt, prepare(sql));
  NIBBLE_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) return make_error(ErrorKind::internal, path_, ": no result for ", sql);
  return stmt.int64(0);
}

std::int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }
bool Connection::in_transaction() const { return db_ != nullptr && sqlite3_get_autocommit(db_) == 0; }
bool Connection::is_read_only() const { return db_ != nullptr && sqlite3_db_readonly(db_, "main") == 1; }
void Connection::set_busy_timeout(int ms) { sqlite3_busy_timeout(db_, ms); }

}  // namespace nibble::history::sql
