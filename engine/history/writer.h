// The writer thread: owns the one read-write connection and commits queued operations in batched
// transactions (a savepoint per operation, so one failing operation does not undo the others).
// Streamed deltas wait in the queue up to flush_interval; any other operation, flush() or close()
// commits at once. Knows nothing of the schema beyond the delta UPDATEs; HistoryStore submits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "history/sqlite_db.h"
#include "nibble/history.h"

namespace nibble::history {

class Writer {
 public:
  // Runs on the writer thread inside the batch transaction.
  using Task = std::function<Status(sql::Connection&)>;
  // Runs on the writer thread once the batch has committed (ok) or failed.
  using Finish = std::function<void(const Status&)>;

  Writer(sql::Connection db, std::chrono::milliseconds flush_interval,
         std::function<void(const Error&)> on_error);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // false when closed (finish is then not called).
  bool submit(Task task, Finish finish);
  // false when closed.
  bool append_delta(MessageId id, DeltaField field, std::string_view text);
  // Commits everything queued so far; the status of that batch.
  std::future<Status> flush();
  // Commits what is queued, stops the thread, closes the connection. Idempotent.
  Status close();

 private:
  struct Op {
    enum class Kind : std::uint8_t { task, delta } kind = Kind::task;
    Task task;
    Finish finish;
    MessageId message = 0;
    DeltaField field = DeltaField::content;
    std::string text;
  };

  void run();
  void execute(std::deque<Op>& batch);
  Status apply_delta(const Op& op);
  void fail_batch(std::deque<Op>& batch, const Error& error);
  void call_finish(Op& op, const Status& status);
  void report(const Error& error);

  sql::Connection db_;
  const std::chrono::milliseconds interval_;
  std::function<void(const Error&)> on_error_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Op> queue_;
  bool urgent_ = false;  // a task is queued: commit now
  bool has_deltas_ = false;
  std::chrono::steady_clock::time_point delta_deadline_;
  bool stopping_ = false;
  bool closed_ = false;
  int failed_delta_rounds_ = 0;  // consecutive batches whose deltas could not be saved
  Status close_status_;
  std::thread thread_;
};

}  // namespace nibble::history
