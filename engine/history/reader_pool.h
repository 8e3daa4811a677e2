// Read connections for synchronous queries from any thread: each call borrows an idle
// connection (opening one when none is idle) and gives it back, so concurrent readers never share
// a connection and never wait for the writer (WAL). Owns no queries; HistoryStore reads use it.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "history/sqlite_db.h"

namespace nibble::history {

class ReaderPool {
 public:
  struct Settings {
    std::string path;
    std::string vfs;
    bool read_only_file = false;  // open with SQLITE_OPEN_READONLY (read-only store)
    bool immutable = false;       // ... and as immutable (see sql::OpenMode::read_only_immutable)
    int busy_timeout_ms = 5000;
  };

  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<sql::Connection> db) : pool_(pool), db_(std::move(db)) {}
    ~Lease();
    Lease(Lease&& other) noexcept : pool_(other.pool_), db_(std::move(other.db_)) { other.pool_ = nullptr; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    sql::Connection& operator*() { return *db_; }
    sql::Connection* operator->() { return db_.get(); }

   private:
    ReaderPool* pool_;
    std::unique_ptr<sql::Connection> db_;
  };

  explicit ReaderPool(Settings settings) : settings_(std::move(settings)) {}
  ~ReaderPool() { close(); }

  Result<Lease> acquire();
  // Waits for borrowed connections to come back, then closes all; acquire() fails afterwards.
  void close();

 private:
  void give_back(std::unique_ptr<sql::Connection> db);

  Settings settings_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<sql::Connection>> idle_;
  int borrowed_ = 0;
  bool closed_ = false;
};

}  // namespace nibble::history
