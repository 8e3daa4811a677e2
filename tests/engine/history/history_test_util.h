// Helpers for the history tests: a scratch folder per test, whole-file reads for byte-identity
// checks, loading a .sql fixture into a fresh database, and waiting on store futures.
// Used by every test in tests/engine/history; not a test itself.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <string>

#include "nibble/history.h"

namespace nibble::history::testing {

namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("nibble-history-") + (info ? info->name() : "x") + "-" + std::to_string(rd());
    path_ = fs::temp_directory_path() / name;
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Runs a .sql file from tests/data/history into a new database at `db_path` (raw SQLite, so the
// fixture is loaded exactly as written, without the store's migrations).
inline void load_sql_fixture(const std::string& sql_name, const std::string& db_path) {
  std::string sql = read_bytes(std::string(NIBBLE_TEST_DATA_DIR) + "/history/" + sql_name);
  ASSERT_FALSE(sql.empty()) << "missing fixture " << sql_name;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

// Runs static SQL on a raw connection (for setting up odd states the store would refuse).
inline void raw_exec(const std::string& db_path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

inline long long raw_int(const std::string& db_path, const char* sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return -1;
  sqlite3_stmt* stmt = nullptr;
  long long v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

// The value of a write future, failing the test (and returning T{}) on error or timeout.
template <class T>
T wait_ok(std::future<Result<T>> f) {
  if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "write did not complete";
    return T{};
  }
  auto r = f.get();
  if (!r.ok()) {
    ADD_FAILURE() << r.error().to_string();
    return T{};
  }
  return std::move(r).value();
}

inline void wait_ok(std::future<Status> f) {
  if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "write did not complete";
    return;
  }
  auto st = f.get();
  if (!st.ok()) ADD_FAILURE() << st.error().to_string();
}

inline std::unique_ptr<HistoryStore> open_ok(const std::string& path, HistoryOptions options = {}) {
  auto store = HistoryStore::open(path, std::move(options));
  if (!store.ok()) {
    ADD_FAILURE() << store.error().to_string();
    return nullptr;
  }
  return std::move(store).value();
}

}  // namespace nibble::history::testing
