// HistoryStore's insides, shared by store_open.cpp (building one) and store.cpp (using one):
// the reader pool, the writer (absent when read-only) and the helpers that turn a write into a
// queued task with a future and a callback. Not part of the public API.
#pragma once

#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "history/reader_pool.h"
#include "history/writer.h"
#include "nibble/history.h"

namespace nibble::history {

struct HistoryStore::Impl {
  std::string path;
  HistoryOptions options;
  OpenReport report;
  std::unique_ptr<ReaderPool> readers;
  std::unique_ptr<Writer> writer;  // null when read-only
  std::mutex close_mutex;
  bool closed = false;

  Error read_only_error() const {
    return make_error(ErrorKind::read_only, path, ": the history is open read-only: ", report.read_only_reason);
  }

  // Runs fn(connection) on a borrowed read connection.
  template <class Fn>
  auto read(Fn&& fn) const -> decltype(fn(std::declval<sql::Connection&>())) {
    using R = decltype(fn(std::declval<sql::Connection&>()));
    try {
      auto lease = readers->acquire();
      if (!lease.ok()) return R(std::move(lease).error());
      return fn(**lease);
    } catch (const std::exception& e) {
      return R(make_error(ErrorKind::internal, path, ": ", e.what()));
    }
  }

  // Runs the callback (a throwing callback is ignored) and then makes the future ready.
  template <class T>
  static void deliver(std::promise<Result<T>>& promise, const HistoryStore::Done<T>& cb, Result<T> r) {
    if (cb) {
      try {
        cb(r);
      } catch (...) {
      }
    }
    promise.set_value(std::move(r));
  }

  // Queues fn(connection) -> Result<T> on the writer; the future gets its result after commit.
  template <class T, class Fn>
  std::future<Result<T>> write(Fn fn, HistoryStore::Done<T> done) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    auto cb = std::make_shared<HistoryStore::Done<T>>(std::move(done));
    auto fail_now = [&](Error e) { deliver<T>(*promise, *cb, Result<T>(std::move(e))); };
    try {
      if (!writer) {
        fail_now(read_only_error());
        return future;
      }
      if constexpr (std::is_void_v<T>) {
        bool queued = writer->submit([fn = std::move(fn)](sql::Connection& db) -> Status { return fn(db); },
                                     [promise, cb](const Status& st) { deliver<T>(*promise, *cb, st); });
        if (!queued) fail_now(make_error(ErrorKind::invalid_argument, path, ": the history store is closed"));
      } else {
        auto slot = std::make_shared<std::optional<T>>();
        bool queued = writer->submit(
            [fn = std::move(fn), slot](sql::Connection& db) -> Status {
              auto r = fn(db);
              if (!r.ok()) return std::move(r).error();
              slot->emplace(std::move(r).value());
              return {};
            },
            [slot, promise, cb](const Status& st) {
              deliver<T>(*promise, *cb, st.ok() ? Result<T>(std::move(**slot)) : Result<T>(st.error()));
            });
        if (!queued) fail_now(make_error(ErrorKind::invalid_argument, path, ": the history store is closed"));
      }
    } catch (const std::exception& e) {
      fail_now(make_error(ErrorKind::internal, path, ": ", e.what()));
    }
    return future;
  }
};

}  // namespace nibble::history
