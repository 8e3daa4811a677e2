// HistoryStore's public methods: reads borrow a connection from the pool (multi-statement reads
// run in one read transaction, so they see one snapshot); writes become writer tasks that call
// history/mutations.h. Opening lives in store_open.cpp.
#include <ostream>

#include "history/clock.h"
#include "history/export.h"
#include "history/mutations.h"
#include "history/queries.h"
#include "history/search.h"
#include "history/store_impl.h"

namespace nibble::history {

HistoryStore::~HistoryStore() { (void)close(); }

const std::string& HistoryStore::path() const { return impl_->path; }
const OpenReport& HistoryStore::open_report() const { return impl_->report; }
bool HistoryStore::read_only() const { return impl_->report.read_only; }

// ---- Reads ----

Result<Conversation> HistoryStore::conversation(ConversationId id) const {
  return impl_->read([&](sql::Connection& db) { return read_conversation(db, id); });
}

Result<ConversationPage> HistoryStore::list(const ListQuery& query) const {
  return impl_->read([&](sql::Connection& db) { return read_page(db, query); });
}

Result<ConversationTree> HistoryStore::tree(ConversationId id) const {
  return impl_->read([&](sql::Connection& db) {
    return sql::in_transaction(db, "BEGIN", [&] { return read_tree(db, id); });
  });
}

Result<Message> HistoryStore::message(MessageId id) const {
  return impl_->read([&](sql::Connection& db) { return read_message(db, id); });
}

Result<std::vector<SearchHit>> HistoryStore::search(std::string_view query, const SearchOptions& options) const {
  return impl_->read([&](sql::Connection& db) {
    return sql::in_transaction(db, "BEGIN", [&] { return run_search(db, query, options); });
  });
}

Result<std::vector<ModelRecord>> HistoryStore::models() const {
  return impl_->read([&](sql::Connection& db) { return read_models(db); });
}

Result<std::vector<ConversationId>> HistoryStore::conversation_ids(ListFilter filter) const {
  return impl_->read([&](sql::Connection& db) { return read_conversation_ids(db, filter); });
}

Result<int> HistoryStore::trash_retention_days() const {
  return impl_->read([&](sql::Connection& db) { return read_trash_retention_days(db); });
}

Status HistoryStore::export_to(std::ostream& out, ExportFormat format, const std::vector<ConversationId>& ids,
                               ListFilter filter) const {
  return impl_->read([&](sql::Connection& db) {
    return sql::in_transaction(db, "BEGIN", [&]() -> Status {
      std::vector<ConversationId> chosen = ids;
      if (chosen.empty()) {
        NIBBLE_ASSIGN_OR_RETURN(chosen, read_conversation_ids(db, filter));
      }
      auto writer = make_export_writer(format);
      writer->begin(out);
      for (ConversationId id : chosen) {
        NIBBLE_ASSIGN_OR_RETURN(auto tree, read_tree(db, id));
        writer->add(tree, out);
        if (!out) return make_error(ErrorKind::io, "export: writing the output failed");
      }
      writer->end(out);
      out.flush();
      if (!out) return make_error(ErrorKind::io, "export: writing the output failed");
      return {};
    });
  });
}

Status HistoryStore::check_integrity() const {
  return impl_->read([&](sql::Connection& db) -> Status {
    NIBBLE_ASSIGN_OR_RETURN(auto s, db.prepare("PRAGMA integrity_check"));
    std::string problems;
    for (;;) {
      NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      std::string line = s.text(0);
      if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
    }
    if (!problems.empty()) return make_error(ErrorKind::format, db.path(), ": integrity check failed: ", problems);
    if (impl_->report.schema_version >= 2 && !impl_->report.read_only) {
      // The FTS5 check writes nothing but is an INSERT command; run it where writes are allowed.
      NIBBLE_TRY(db.exec("PRAGMA query_only = 0"));
      Status fts = db.exec("INSERT INTO message_fts (message_fts, rank) VALUES ('integrity-check', 1)");
      if (fts.ok()) fts = db.exec("INSERT INTO conversation_fts (conversation_fts, rank) VALUES ('integrity-check', 1)");
      (void)db.exec("PRAGMA query_only = 1");
      if (!fts.ok()) return make_error(ErrorKind::format, db.path(), ": search index check failed: ", fts.error().message);
    }
    return {};
  });
}

// ---- Writes ----

std::future<Result<ConversationId>> HistoryStore::create_conversation(NewConversation c, Done<ConversationId> done) {
  return impl_->write<ConversationId>(
      [c = std::move(c)](sql::Connection& db) { return insert_conversation(db, c, now_ms()); }, std::move(done));
}

std::future<Status> HistoryStore::update_conversation(ConversationId id, ConversationPatch patch, Done<void> done) {
  return impl_->write<void>(
      [id, patch = std::move(patch)](sql::Connection& db) { return patch_conversation(db, id, patch); },
      std::move(done));
}

std::future<Status> HistoryStore::rename(ConversationId id, std::string title, Done<void> done) {
  ConversationPatch patch;
  patch.title = std::move(title);
  return update_conversation(id, std::move(patch), std::move(done));
}

std::future<Status> HistoryStore::set_pinned(ConversationId id, bool pinned, Done<void> done) {
  ConversationPatch patch;
  patch.pinned = pinned;
  return update_conversation(id, std::move(patch), std::move(done));
}

std::future<Status> HistoryStore::move_to_trash(ConversationId id, Done<void> done) {
  return impl_->write<void>([id](sql::Connection& db) { return set_trashed(db, id, true, now_ms()); },
                            std::move(done));
}

std::future<Status> HistoryStore::restore(ConversationId id, Done<void> done) {
  return impl_->write<void>([id](sql::Connection& db) { return set_trashed(db, id, false, now_ms()); },
                            std::move(done));
}

std::future<Status> HistoryStore::purge(ConversationId id, Done<void> done) {
  return impl_->write<void>([id](sql::Connection& db) { return purge_conversation(db, id); }, std::move(done));
}

std::future<Result<std::int64_t>> HistoryStore::purge_trash_before(TimestampMs cutoff, Done<std::int64_t> done) {
  return impl_->write<std::int64_t>([cutoff](sql::Connection& db) { return purge_trashed_before(db, cutoff); },
                                    std::move(done));
}

std::future<Status> HistoryStore::set_trash_retention_days(int days, Done<void> done) {
  return impl_->write<void>(
      [days](sql::Connection& db) -> Status {
        if (days < 0) return make_error(ErrorKind::invalid_argument, "trash retention must be 0 (never) or more days");
        return write_setting(db, kTrashRetentionKey, std::to_string(days));
      },
      std::move(done));
}

std::future<Result<MessageId>> HistoryStore::add_message(NewMessage m, Done<MessageId> done) {
  return impl_->write<MessageId>([m = std::move(m)](sql::Connection& db) { return insert_message(db, m, now_ms()); },
                                 std::move(done));
}

std::future<Status> HistoryStore::select_branch(MessageId id, Done<void> done) {
  return impl_->write<void>([id](sql::Connection& db) { return history::select_branch(db, id); }, std::move(done));
}

void HistoryStore::append_delta(MessageId id, std::string_view text, DeltaField field) {
  if (text.empty()) return;
  bool queued = false;
  try {
    queued = impl_->writer && impl_->writer->append_delta(id, field, text);
  } catch (...) {
  }
  if (!queued && impl_->options.on_background_error) {
    Error e = impl_->writer ? make_error(ErrorKind::invalid_argument, impl_->path, ": the history store is closed")
                            : impl_->read_only_error();
    try {
      impl_->options.on_background_error(e);
    } catch (...) {
    }
  }
}

std::future<Status> HistoryStore::finish_message(MessageId id, MessageFinish finish, Done<void> done) {
  return impl_->write<void>(
      [id, finish = std::move(finish)](sql::Connection& db) { return history::finish_message(db, id, finish, now_ms()); },
      std::move(done));
}

std::future<Result<ModelId>> HistoryStore::upsert_model(ModelRecord model, Done<ModelId> done) {
  return impl_->write<ModelId>(
      [model = std::move(model)](sql::Connection& db) { return history::upsert_model(db, model, now_ms()); },
      std::move(done));
}

std::future<Status> HistoryStore::remove_model(ModelId id, Done<void> done) {
  return impl_->write<void>([id](sql::Connection& db) { return delete_model(db, id); }, std::move(done));
}

std::future<Result<std::vector<ConversationId>>> HistoryStore::import_trees(std::vector<ConversationTree> trees,
                                                                           Done<std::vector<ConversationId>> done) {
  return impl_->write<std::vector<ConversationId>>(
      [trees = std::move(trees)](sql::Connection& db) { return insert_trees(db, trees); }, std::move(done));
}

std::future<Status> HistoryStore::flush() {
  if (!impl_->writer) {  // read-only: nothing can be pending
    std::promise<Status> ready;
    ready.set_value(Status());
    return ready.get_future();
  }
  return impl_->writer->flush();
}

Status HistoryStore::close() {
  std::lock_guard<std::mutex> lock(impl_->close_mutex);
  if (impl_->closed) return {};
  impl_->closed = true;
  if (impl_->readers) impl_->readers->close();
  // The writer closes last: as the last connection it checkpoints the WAL into the main file.
  return impl_->writer ? impl_->writer->close() : Status();
}

}  // namespace nibble::history
