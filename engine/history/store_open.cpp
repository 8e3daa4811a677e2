// HistoryStore::open: from a path to a running store. Order matters for the user's file: nothing
// is written before the file is known to be ours and of a version we understand (a foreign,
// damaged or newer file is never modified); a populated file is backed up before it is migrated;
// then streams cut short by a crash are marked interrupted and expired trash is purged.
#include <filesystem>
#include <system_error>

#include "history/clock.h"
#include "history/mutations.h"
#include "history/queries.h"
#include "history/schema.h"
#include "history/store_impl.h"

namespace nibble::history {
namespace {

namespace fs = std::filesystem;

Status set_pragmas(sql::Connection& db, const HistoryOptions& options) {
  NIBBLE_ASSIGN_OR_RETURN(auto mode, db.prepare("PRAGMA journal_mode = WAL"));
  NIBBLE_ASSIGN_OR_RETURN(bool row, mode.step());
  if (!row || mode.text(0) != "wal")
    return make_error(ErrorKind::io, db.path(), ": cannot switch the database to write-ahead logging (journal mode '",
                      row ? mode.text(0) : std::string(), "')");
  NIBBLE_TRY(db.exec(options.durable_commits ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
  return db.exec("PRAGMA foreign_keys = ON");
}

// The version in the file, after checking that the file is a database we may touch.
Result<int> probe(sql::Connection& db) {
  NIBBLE_ASSIGN_OR_RETURN(std::int64_t objects, db.query_int("SELECT count(*) FROM sqlite_schema"));
  NIBBLE_ASSIGN_OR_RETURN(int version, read_schema_version(db));
  if (version == 0 && objects > 0)
    return make_error(ErrorKind::format, db.path(),
                      ": this SQLite database is not a Nibble history (it has tables but no history schema "
                      "version); it was left untouched");
  return version;
}

// Switching a populated file to WAL rewrites its header: check such a file first, so a damaged
// one is reported instead of touched. Files already in WAL mode skip this (it reads every page).
Status check_before_first_write(sql::Connection& db, int version) {
  if (version == 0) return {};
  NIBBLE_ASSIGN_OR_RETURN(auto mode, db.prepare("PRAGMA journal_mode"));
  NIBBLE_ASSIGN_OR_RETURN(bool row, mode.step());
  if (row && mode.text(0) == "wal") return {};
  NIBBLE_ASSIGN_OR_RETURN(auto check, db.prepare("PRAGMA quick_check"));
  NIBBLE_ASSIGN_OR_RETURN(bool has_row, check.step());
  if (has_row && check.text(0) != "ok")
    return make_error(ErrorKind::format, db.path(), ": the database is damaged (", check.text(0),
                      "); it was left untouched");
  return {};
}

Status startup_maintenance(sql::Connection& db, const HistoryOptions& options, OpenReport& report) {
  if (!options.recover_interrupted && !options.purge_expired_trash) return {};
  return sql::in_transaction(db, "BEGIN IMMEDIATE", [&]() -> Status {
    const TimestampMs now = now_ms();
    if (options.recover_interrupted) {
      NIBBLE_ASSIGN_OR_RETURN(report.recovered_messages, mark_streaming_interrupted(db, now));
    }
    if (options.purge_expired_trash) {
      NIBBLE_ASSIGN_OR_RETURN(int days, read_trash_retention_days(db));
      if (days > 0) {
        NIBBLE_ASSIGN_OR_RETURN(report.purged_conversations,
                                purge_trashed_before(db, now - static_cast<TimestampMs>(days) * 86'400'000));
      }
    }
    return {};
  });
}

// Opens for writing; on success `db` is ready for the writer thread.
Status open_writable(const std::string& path, const HistoryOptions& options, OpenReport& report,
                     sql::Connection& out, int& version_out) {
  NIBBLE_ASSIGN_OR_RETURN(auto db, sql::Connection::open(path, sql::OpenMode::read_write_create, options.vfs));
  db.set_busy_timeout(static_cast<int>(options.busy_timeout.count()));
  if (db.is_read_only())
    return make_error(ErrorKind::read_only, path, ": the file cannot be written (permission denied)");
  NIBBLE_ASSIGN_OR_RETURN(int version, probe(db));
  version_out = version;
  report.found_version = version;
  if (version > kSchemaVersion)
    return make_error(ErrorKind::read_only, path, ": written by a newer version of Nibble (schema ", version,
                      "; this version reads up to ", kSchemaVersion, ")");
  NIBBLE_TRY(check_before_first_write(db, version));
  NIBBLE_TRY(set_pragmas(db, options));
  if (version < kSchemaVersion) {
    if (version >= 1) {
      NIBBLE_ASSIGN_OR_RETURN(report.backup_path, write_backup(db, version, options.vfs));
    }
    NIBBLE_TRY(migrate(db));
  }
  NIBBLE_TRY(startup_maintenance(db, options, report));
  NIBBLE_ASSIGN_OR_RETURN(report.schema_version, read_schema_version(db));
  out = std::move(db);
  return {};
}

// Read-only: every connection opened with SQLITE_OPEN_READONLY, so the file cannot change. When
// the folder cannot be written and no -wal file exists, SQLite cannot set up WAL reading; the file
// is then read as immutable (nothing else can be writing it either). Returns whether it is.
Result<bool> open_read_only(const std::string& path, const HistoryOptions& options, OpenReport& report) {
  bool immutable = false;
  auto attempt = [&](sql::OpenMode mode) -> Result<int> {
    NIBBLE_ASSIGN_OR_RETURN(auto db, sql::Connection::open(path, mode, options.vfs));
    db.set_busy_timeout(static_cast<int>(options.busy_timeout.count()));
    return probe(db);
  };
  auto version = attempt(sql::OpenMode::read_only);
  std::error_code ec;
  if (!version.ok() && version.error().kind == ErrorKind::io && !fs::exists(path + "-wal", ec)) {
    version = attempt(sql::OpenMode::read_only_immutable);
    immutable = true;
  }
  if (!version.ok()) return std::move(version).error();
  report.found_version = *version;
  report.schema_version = *version;
  return immutable;
}

bool may_fall_back_to_read_only(const Error& e) {
  return e.kind == ErrorKind::read_only || e.kind == ErrorKind::io;
}

}  // namespace

HistoryStore::HistoryStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<HistoryStore>> HistoryStore::open(const std::string& path, HistoryOptions options) {
  try {
    if (path.empty()) return make_error(ErrorKind::invalid_argument, "history: no database path given");
    std::error_code ec;
    const bool existed = fs::exists(path, ec);
    if (ec) return make_error(ErrorKind::io, path, ": cannot reach the history database: ", ec.message());
    if (existed && fs::is_directory(path, ec))
      return make_error(ErrorKind::io, path, ": is a folder, not a history database");
    if (!existed) {
      if (!options.create_if_missing) return make_error(ErrorKind::not_found, path, ": no history database at this path yet");
      const fs::path parent = fs::path(path).parent_path();
      if (!parent.empty()) {
        fs::create_directories(parent, ec);
        if (ec) return make_error(ErrorKind::io, path, ": cannot create the folder ", parent.string(), ": ", ec.message());
      }
    }

    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->options = options;
    impl->report.created = !existed;

    sql::Connection db;
    int version = 0;
    Status writable = open_writable(path, options, impl->report, db, version);
    if (writable.ok()) {
      impl->writer = std::make_unique<Writer>(std::move(db), options.flush_interval, options.on_background_error);
      impl->readers = std::make_unique<ReaderPool>(ReaderPool::Settings{
          path, options.vfs, false, false, static_cast<int>(options.busy_timeout.count())});
      return std::unique_ptr<HistoryStore>(new HistoryStore(std::move(impl)));
    }
    db.close();
    const Error& why = writable.error();
    // Read-only is offered for a file this build can read as it is: the current or a newer schema.
    if (!existed || !may_fall_back_to_read_only(why) || (version != 0 && version < kSchemaVersion)) return why;
    OpenReport read_only_report;
    auto immutable = open_read_only(path, options, read_only_report);
    if (!immutable.ok() || read_only_report.found_version < kSchemaVersion) return why;
    impl->report = read_only_report;
    impl->report.read_only = true;
    impl->report.read_only_reason = why.message + "; opened read-only, nothing will be changed";
    impl->readers = std::make_unique<ReaderPool>(ReaderPool::Settings{
        path, options.vfs, true, *immutable, static_cast<int>(options.busy_timeout.count())});
    return std::unique_ptr<HistoryStore>(new HistoryStore(std::move(impl)));
  } catch (const std::exception& e) {
    return make_error(ErrorKind::internal, path, ": ", e.what());
  }
}

}  // namespace nibble::history
