// Schema versions and their migrations.
//   v1: conversations, messages as a tree (parent id, selected child), settings.
//   v2: folders, per-message template hash and speed metrics, the model library, and FTS5
//       indexes over message text and titles kept in sync by triggers (text is indexed once a
//       message stops streaming, so streamed deltas never touch the index).
//   v3: the message index also keeps 2- and 3-character prefix indexes, so a prefix search
//       (`kak*`) reads one doclist instead of merging those of every word with that prefix.
// A migration only adds: a file from a newer build stays readable by the queries of this one.
#include "history/schema.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <filesystem>

namespace nibble::history {
namespace {

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE conversations (
  id               INTEGER PRIMARY KEY,
  title            TEXT    NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  pinned           INTEGER NOT NULL DEFAULT 0,
  system_prompt    TEXT    NOT NULL DEFAULT '',
  model_ref        TEXT    NOT NULL DEFAULT '',
  settings_json    TEXT    NOT NULL DEFAULT '{}',
  trashed_at       INTEGER,
  selected_root_id INTEGER
);
CREATE INDEX conversations_by_recency ON conversations (trashed_at, pinned, updated_at, id);
CREATE TABLE messages (
  id                INTEGER PRIMARY KEY,
  conversation_id   INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  parent_id         INTEGER REFERENCES messages (id) ON DELETE CASCADE,
  selected_child_id INTEGER,
  role              TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
  content           TEXT    NOT NULL DEFAULT '',
  reasoning         TEXT    NOT NULL DEFAULT '',
  status            TEXT    NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),
  error             TEXT    NOT NULL DEFAULT '',
  model_id          TEXT    NOT NULL DEFAULT '',
  quantization      TEXT    NOT NULL DEFAULT '',
  sampler_json      TEXT    NOT NULL DEFAULT '{}',
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_by_parent ON messages (parent_id);
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

constexpr const char* kMigrateV1ToV2 = R"sql(
ALTER TABLE conversations ADD COLUMN folder TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN template_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN ttft_ms REAL;
ALTER TABLE messages ADD COLUMN prefill_tps REAL;
ALTER TABLE messages ADD COLUMN decode_tps REAL;
CREATE INDEX conversations_by_trash_time ON conversations (trashed_at) WHERE trashed_at IS NOT NULL;
CREATE TABLE models (
  id              INTEGER PRIMARY KEY,
  path            TEXT    NOT NULL UNIQUE,
  name            TEXT    NOT NULL DEFAULT '',
  format          TEXT    NOT NULL DEFAULT '',
  architecture    TEXT    NOT NULL DEFAULT '',
  quantization    TEXT    NOT NULL DEFAULT '',
  bits_per_weight REAL,
  parameter_count INTEGER,
  context_length  INTEGER,
  size_bytes      INTEGER,
  info_json       TEXT    NOT NULL DEFAULT '{}',
  added_at        INTEGER NOT NULL,
  last_used_at    INTEGER
);
CREATE VIEW message_fts_source AS
  SELECT id, content FROM messages WHERE status <> 'streaming';
CREATE VIRTUAL TABLE message_fts USING fts5 (
  content, content = 'message_fts_source', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER message_fts_insert AFTER INSERT ON messages WHEN new.status <> 'streaming' BEGIN
  INSERT INTO message_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER message_fts_delete AFTER DELETE ON messages WHEN old.status <> 'streaming' BEGIN
  INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER message_fts_update_old AFTER UPDATE OF content, status ON messages
  WHEN old.status <> 'streaming' BEGIN
  INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER message_fts_update_new AFTER UPDATE OF content, status ON messages
  WHEN new.status <> 'streaming' BEGIN
  INSERT INTO message_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE VIRTUAL TABLE conversation_fts USING fts5 (
  title, content = 'conversations', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER conversation_fts_insert AFTER INSERT ON conversations BEGIN
  INSERT INTO conversation_fts (rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER conversation_fts_delete AFTER DELETE ON conversations BEGIN
  INSERT INTO conversation_fts (conversation_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER conversation_fts_update AFTER UPDATE OF title ON conversations BEGIN
  INSERT INTO conversation_fts (conversation_fts, rowid, title) VALUES ('delete', old.id, old.title);
  INSERT INTO conversation_fts (rowid, title) VALUES (new.id, new.title);
END;
INSERT INTO message_fts (message_fts) VALUES ('rebuild');
INSERT INTO conversation_fts (conversation_fts) VALUES ('rebuild');
PRAGMA user_version = 2;
)sql";

// Rebuilding the index reads every message once (about a minute for a million messages); the
// migration runs inside one transaction after the backup copy, like every other.
constexpr const char* kMigrateV2ToV3 = R"sql(
DROP TABLE message_fts;
CREATE VIRTUAL TABLE message_fts USING fts5 (
  content, content = 'message_fts_source', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');
INSERT INTO message_fts (message_fts) VALUES ('rebuild');
PRAGMA user_version = 3;
)sql";

struct Migration {
  int to_version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, kSchemaV1},
    {2, kMigrateV1ToV2},
    {3, kMigrateV2ToV3},
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion,
              "one migration per schema version");

std::string utc_stamp() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

Result<int> read_schema_version(sql::Connection& db) {
  NIBBLE_ASSIGN_OR_RETURN(auto v, db.query_int("PRAGMA user_version"));
  return static_cast<int>(v);
}

Status migrate(sql::Connection& db, int target) {
  NIBBLE_ASSIGN_OR_RETURN(int version, read_schema_version(db));
  for (const auto& m : kMigrations) {
    if (m.to_version <= version || m.to_version > target) continue;
    Status st = sql::in_transaction(db, "BEGIN IMMEDIATE", [&]() -> Status {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      NIBBLE_ASSIGN_OR_RETURN(int now, read_schema_version(db));
      if (now >= m.to_version) return {};
      if (now != m.to_version - 1)
        return make_error(ErrorKind::format, db.path(), ": schema version ", now, " cannot be migrated to ",
                          m.to_version);
      return db.exec(m.sql);
    });
    if (!st.ok()) {
      Error e = st.error();
      e.message = "migrating to schema version " + std::to_string(m.to_version) + ": " + e.message;
      return e;
    }
    version = m.to_version;
  }
  return {};
}

Result<std::string> write_backup(sql::Connection& db, int version, const std::string& vfs) {
  const std::string base = db.path() + ".v" + std::to_string(version) + "-" + utc_stamp();
  std::string path = base + ".bak";
  std::error_code ec;
  for (int i = 2; std::filesystem::exists(path, ec) || ec; ++i) {
    if (ec) return make_error(ErrorKind::io, path, ": cannot check for an existing backup: ", ec.message());
    path = base + "-" + std::to_string(i) + ".bak";
  }
  // Never overwrite: the backup file must be new (read_write_create on a fresh name).
  NIBBLE_ASSIGN_OR_RETURN(auto dest, sql::Connection::open(path, sql::OpenMode::read_write_create, vfs));
  sqlite3_backup* backup = sqlite3_backup_init(dest.handle(), "main", db.handle(), "main");
  if (backup == nullptr) {
    Error e = dest.error(sqlite3_errcode(dest.handle()), "backup before migration");
    dest.close();
    std::filesystem::remove(path, ec);
    return e;
  }
  int rc = sqlite3_backup_step(backup, -1);
  int finish = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE || finish != SQLITE_OK) {
    Error e = dest.error(rc != SQLITE_DONE ? rc : finish, "backup before migration");
    dest.close();
    std::filesystem::remove(path, ec);
    return e;
  }
  dest.close();
  return path;
}

}  // namespace nibble::history
