// Borrow/return of read connections. A connection opened for reading is set query_only, so no
// code path reached through a read can modify the file.
#include "history/reader_pool.h"

#include "history/rank.h"

namespace nibble::history {

ReaderPool::Lease::~Lease() {
  if (pool_ != nullptr && db_) pool_->give_back(std::move(db_));
}

Result<ReaderPool::Lease> ReaderPool::acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return make_error(ErrorKind::invalid_argument, settings_.path, ": the history store is closed");
    ++borrowed_;
    if (!idle_.empty()) {
      auto db = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(db));
    }
  }
  auto mode = settings_.immutable        ? sql::OpenMode::read_only_immutable
              : settings_.read_only_file ? sql::OpenMode::read_only
                                         : sql::OpenMode::read_write;
  auto opened = sql::Connection::open(settings_.path, mode, settings_.vfs);
  Status st;
  std::unique_ptr<sql::Connection> db;
  if (opened.ok()) {
    db = std::make_unique<sql::Connection>(std::move(opened).value());
    db->set_busy_timeout(settings_.busy_timeout_ms);
    st = db->exec("PRAGMA query_only = 1");
    if (st.ok()) st = register_rank_function(*db);
  } else {
    st = std::move(opened).error();
  }
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(mutex_);
    --borrowed_;
    returned_.notify_all();
    return st.error();
  }
  return Lease(this, std::move(db));
}

void ReaderPool::give_back(std::unique_ptr<sql::Connection> db) {
  std::lock_guard<std::mutex> lock(mutex_);
  --borrowed_;
  if (!closed_) idle_.push_back(std::move(db));
  returned_.notify_all();
}

void ReaderPool::close() {
  std::unique_lock<std::mutex> lock(mutex_);
  closed_ = true;
  returned_.wait(lock, [&] { return borrowed_ == 0; });
  idle_.clear();
}

}  // namespace nibble::history
