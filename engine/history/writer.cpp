// Writer thread: the queue, the batching policy and the transaction around each batch.
// Deltas that cannot be saved (full disk, lock) go back to the front of the queue and are retried
// every flush_interval, so streamed text survives a transient failure as long as the process
// lives; tasks fail with the batch's error and their callers decide.
#include "history/writer.h"

#include <exception>
#include <utility>
#include <vector>

#include "history/clock.h"

namespace nibble::history {

Writer::Writer(sql::Connection db, std::chrono::milliseconds flush_interval,
               std::function<void(const Error&)> on_error)
    : db_(std::move(db)), interval_(flush_interval), on_error_(std::move(on_error)) {
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() { (void)close(); }

bool Writer::submit(Task task, Finish finish) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return false;
    Op op;
    op.kind = Op::Kind::task;
    op.task = std::move(task);
    op.finish = std::move(finish);
    queue_.push_back(std::move(op));
    urgent_ = true;
  }
  wake_.notify_one();
  return true;
}

bool Writer::append_delta(MessageId id, DeltaField field, std::string_view text) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return false;
    if (!queue_.empty()) {
      Op& last = queue_.back();
      if (last.kind == Op::Kind::delta && last.message == id && last.field == field) {
        last.text.append(text);
        return true;
      }
    }
    Op op;
    op.kind = Op::Kind::delta;
    op.message = id;
    op.field = field;
    op.text.assign(text);
    queue_.push_back(std::move(op));
    if (!has_deltas_) {
      has_deltas_ = true;
      delta_deadline_ = std::chrono::steady_clock::now() + interval_;
      wake = true;
    }
  }
  if (wake) wake_.notify_one();
  return true;
}

std::future<Status> Writer::flush() {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  bool queued = submit([](sql::Connection&) -> Status { return {}; },
                       [promise](const Status& st) { promise->set_value(st); });
  if (!queued) promise->set_value(make_error(ErrorKind::invalid_argument, db_.path(), ": the history store is closed"));
  return future;
}

Status Writer::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return close_status_;
    closed_ = true;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  db_.close();
  return close_status_;
}

void Writer::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    while (!urgent_ && !stopping_) {
      if (has_deltas_) {
        if (wake_.wait_until(lock, delta_deadline_) == std::cv_status::timeout) break;
      } else {
        wake_.wait(lock);
      }
    }
    if (queue_.empty()) {
      if (stopping_) return;
      urgent_ = false;
      continue;
    }
    std::deque<Op> batch;
    batch.swap(queue_);
    urgent_ = false;
    has_deltas_ = false;
    lock.unlock();
    execute(batch);
    lock.lock();
  }
}

Status Writer::apply_delta(const Op& op) {
  static constexpr const char* kContent =
      "UPDATE messages SET content = content || ?2, updated_at = ?3 WHERE id = ?1 AND status = 'streaming'";
  static constexpr const char* kReasoning =
      "UPDATE messages SET reasoning = reasoning || ?2, updated_at = ?3 WHERE id = ?1 AND status = 'streaming'";
  NIBBLE_ASSIGN_OR_RETURN(auto stmt, db_.cached(op.field == DeltaField::content ? kContent : kReasoning));
  stmt.bind(1, op.message).bind(2, op.text).bind(3, now_ms());
  NIBBLE_TRY(stmt.run());
  if (db_.changes() == 0)
    return make_error(ErrorKind::not_found, db_.path(), ": message ", op.message,
                      " is not streaming: ", op.text.size(), " bytes of streamed text were dropped");
  return {};
}

void Writer::execute(std::deque<Op>& batch) {
  if (auto st = db_.exec("BEGIN IMMEDIATE"); !st.ok()) {
    fail_batch(batch, st.error());
    return;
  }
  std::vector<Status> results(batch.size());
  std::optional<Error> abort;
  for (std::size_t i = 0; i < batch.size() && !abort; ++i) {
    Op& op = batch[i];
    Status st;
    if (op.kind == Op::Kind::delta) {
      st = apply_delta(op);
    } else {
      if (auto sp = db_.exec("SAVEPOINT op"); !sp.ok()) {
        abort = sp.error();
        break;
      }
      try {
        st = op.task(db_);
      } catch (const std::exception& e) {
        st = make_error(ErrorKind::internal, db_.path(), ": ", e.what());
      } catch (...) {
        st = make_error(ErrorKind::internal, db_.path(), ": unknown exception in a history write");
      }
      if (st.ok()) {
        if (auto rel = db_.exec("RELEASE op"); !rel.ok()) abort = rel.error();
        continue;
      }
      if (!sql::is_fatal(st.error()) && db_.in_transaction()) {
        (void)db_.exec("ROLLBACK TO op");
        (void)db_.exec("RELEASE op");
      }
    }
    if (!st.ok()) {
      if (sql::is_fatal(st.error()) || !db_.in_transaction()) abort = st.error();
      else results[i] = st;
    }
  }
  if (!abort) {
    if (auto commit = db_.exec("COMMIT"); !commit.ok()) abort = commit.error();
  }
  if (abort) {
    if (db_.in_transaction()) (void)db_.exec("ROLLBACK");
    fail_batch(batch, *abort);
    return;
  }
  failed_delta_rounds_ = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Op& op = batch[i];
    if (op.kind == Op::Kind::task) {
      call_finish(op, results[i]);
    } else if (!results[i].ok()) {
      report(results[i].error());
    }
  }
}

void Writer::fail_batch(std::deque<Op>& batch, const Error& error) {
  std::deque<Op> retry;
  std::size_t lost = 0;
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping = stopping_;
  }
  for (Op& op : batch) {
    if (op.kind == Op::Kind::task) {
      call_finish(op, error);
    } else if (stopping) {
      lost += op.text.size();
    } else {
      retry.push_back(std::move(op));
    }
  }
  if (!retry.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = retry.rbegin(); it != retry.rend(); ++it) queue_.push_front(std::move(*it));
    has_deltas_ = true;
    delta_deadline_ = std::chrono::steady_clock::now() + interval_;
  }
  if (lost > 0) {
    Error e = error;
    e.message += " (" + std::to_string(lost) + " bytes of streamed text could not be saved before closing)";
    close_status_ = e;
    report(e);
  } else if (!retry.empty()) {
    if (failed_delta_rounds_++ == 0) report(error);
  }
}

void Writer::call_finish(Op& op, const Status& status) {
  if (!op.finish) return;
  try {
    op.finish(status);
  } catch (...) {
    report(make_error(ErrorKind::internal, db_.path(), ": a history write callback threw"));
  }
}

void Writer::report(const Error& error) {
  if (!on_error_) return;
  try {
    on_error_(error);
  } catch (...) {
  }
}

}  // namespace nibble::history
