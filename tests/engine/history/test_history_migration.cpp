// Migrations: every past schema version (fixtures in tests/data/history/v<N>.sql) opens and is
// upgraded with a backup copy written first and left intact; the fixtures match what the
// migration steps create; a failed migration leaves the file at its old version.
#include <gtest/gtest.h>

#include "history/schema.h"
#include "history_test_util.h"

namespace nibble::history {
namespace {

using namespace testing;

// type|name|tbl_name|sql of every schema object, sorted.
std::vector<std::string> schema_rows(const std::string& path) {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name", -1, &stmt,
                     nullptr);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < 4; ++i) {
      const unsigned char* t = sqlite3_column_text(stmt, i);
      row += (t ? reinterpret_cast<const char*>(t) : "") + std::string("|");
    }
    rows.push_back(row);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

// Loads v<version>.sql and migrates an empty file up to `version`: the two schemas must be equal.
void expect_fixture_matches_migrations(const ScratchDir& dir, int version) {
  const std::string fixture = "v" + std::to_string(version) + ".sql";
  load_sql_fixture(fixture, dir.file("fixture.db"));
  auto made = sql::Connection::open(dir.file("made.db"), sql::OpenMode::read_write_create);
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(migrate(*made, version).ok());
  EXPECT_EQ(*read_schema_version(*made), version);
  made->close();
  auto expected = schema_rows(dir.file("made.db"));
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(schema_rows(dir.file("fixture.db")), expected) << fixture;
}

TEST(HistoryMigration, FixtureMatchesWhatMigrationStepOneCreates) {
  ScratchDir dir;
  expect_fixture_matches_migrations(dir, 1);
  ASSERT_FALSE(HasFatalFailure());
  // And the checker notices a difference.
  raw_exec(dir.file("made.db"), "CREATE INDEX extra ON messages (role)");
  EXPECT_NE(schema_rows(dir.file("fixture.db")), schema_rows(dir.file("made.db")));
}

TEST(HistoryMigration, VersionOneOpensUpgradesAndKeepsEverything) {
  ScratchDir dir;
  const std::string path = dir.file("history.db");
  load_sql_fixture("v1.sql", path);
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  const auto report = store->open_report();
  EXPECT_EQ(report.found_version, 1);
  EXPECT_EQ(report.schema_version, kSchemaVersion);
  EXPECT_EQ(report.recovered_messages, 1);
  EXPECT_EQ(report.purged_conversations, 0);  // the fixture's retention setting (0 = never) survived
  ASSERT_FALSE(report.backup_path.empty());
  EXPECT_EQ(report.backup_path.rfind(path + ".v1-", 0), 0u) << report.backup_path;

  // The backup is the old database: version 1, same rows, old schema.
  EXPECT_EQ(raw_int(report.backup_path, "PRAGMA user_version"), 1);
  EXPECT_EQ(raw_int(report.backup_path, "SELECT count(*) FROM messages"), 8);
  EXPECT_EQ(raw_int(report.backup_path, "SELECT count(*) FROM messages WHERE status = 'streaming'"), 1);
  ScratchDir reference;
  load_sql_fixture("v1.sql", reference.file("v1.db"));
  EXPECT_EQ(schema_rows(report.backup_path), schema_rows(reference.file("v1.db")));

  auto c = store->conversation(1);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->title, "Sourdough starter");
  EXPECT_TRUE(c->pinned);
  EXPECT_EQ(c->system_prompt, "You are a baker.");
  EXPECT_EQ(c->settings_json, R"({"temperature":0.8})");
  EXPECT_EQ(c->folder, "");  // added by version 2
  auto tree = store->tree(1);
  ASSERT_TRUE(tree.ok());
  auto path_ids = selected_path(*tree);
  ASSERT_EQ(path_ids.size(), 4u);
  EXPECT_EQ(path_ids[1]->id, 3);  // the regenerated reply stays selected
  EXPECT_EQ(path_ids[1]->reasoning, "It depends on temperature.");
  EXPECT_EQ(siblings(*tree, 3).size(), 2u);
  EXPECT_EQ(path_ids[3]->metrics.completion_tokens, 12);
  EXPECT_FALSE(path_ids[3]->metrics.decode_tokens_per_s.has_value());

  auto crashed = store->message(8);
  ASSERT_TRUE(crashed.ok());
  EXPECT_EQ(crashed->status, MessageStatus::interrupted);
  EXPECT_EQ(crashed->content, "Once upon a time");

  // The search index was built from the old rows (the interrupted text included).
  auto hits = store->search("hydration");
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].message_id, 5);
  EXPECT_EQ(store->search("upon")->size(), 1u);
  EXPECT_EQ(store->search("sourdough")->size(), 1u);
  ListQuery trashed;
  trashed.filter = ListFilter::trashed;
  EXPECT_EQ(store->list(trashed)->items.size(), 1u);
  EXPECT_TRUE(store->check_integrity().ok());

  // New writes use the new columns.
  NewMessage m;
  m.conversation_id = 1;
  m.parent_id = 5;
  m.role = Role::user;
  m.content = "thanks";
  m.template_hash = "abc";
  MessageId id = wait_ok(store->add_message(m));
  EXPECT_EQ(store->message(id)->template_hash, "abc");
  ASSERT_TRUE(store->close().ok());

  // Reopening migrates nothing and leaves the backup as it was.
  const std::string backup_bytes = read_bytes(report.backup_path);
  store = open_ok(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->open_report().found_version, kSchemaVersion);
  EXPECT_TRUE(store->open_report().backup_path.empty());
  ASSERT_TRUE(store->close().ok());
  EXPECT_EQ(read_bytes(report.backup_path), backup_bytes);
}

TEST(HistoryMigration, FixtureMatchesWhatMigrationStepTwoCreates) {
  ScratchDir dir;
  expect_fixture_matches_migrations(dir, 2);
}

TEST(HistoryMigration, VersionTwoOpensUpgradesAndKeepsEverything) {
  ScratchDir dir;
  const std::string path = dir.file("history.db");
  load_sql_fixture("v2.sql", path);
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  const auto report = store->open_report();
  EXPECT_EQ(report.found_version, 2);
  EXPECT_EQ(report.schema_version, kSchemaVersion);
  EXPECT_EQ(report.recovered_messages, 1);
  ASSERT_FALSE(report.backup_path.empty());
  EXPECT_EQ(report.backup_path.rfind(path + ".v2-", 0), 0u) << report.backup_path;
  EXPECT_EQ(raw_int(report.backup_path, "PRAGMA user_version"), 2);
  ScratchDir reference;
  load_sql_fixture("v2.sql", reference.file("v2.db"));
  EXPECT_EQ(schema_rows(report.backup_path), schema_rows(reference.file("v2.db")));

  auto c = store->conversation(1);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->folder, "Kitchen");
  EXPECT_TRUE(c->pinned);
  auto tree = store->tree(1);
  ASSERT_TRUE(tree.ok());
  auto path_ids = selected_path(*tree);
  ASSERT_EQ(path_ids.size(), 4u);
  EXPECT_EQ(path_ids[1]->id, 3);
  EXPECT_EQ(siblings(*tree, 3).size(), 2u);
  EXPECT_EQ(path_ids[3]->template_hash, "9f2c41d0");
  EXPECT_EQ(path_ids[3]->metrics.time_to_first_token_ms, 35.25);
  EXPECT_EQ(path_ids[3]->metrics.decode_tokens_per_s, 117.5);
  auto crashed = store->message(8);
  ASSERT_TRUE(crashed.ok());
  EXPECT_EQ(crashed->status, MessageStatus::interrupted);
  EXPECT_EQ(crashed->content, "Once upon a time");
  auto models = store->models();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].architecture, "MistralForCausalLM");
  EXPECT_EQ((*models)[0].size_bytes, 4703010816);

  // The rebuilt index answers words, phrases and (through the new prefix index) prefixes.
  auto hits = store->search("hydration");
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].message_id, 5);
  EXPECT_EQ(store->search("upon")->size(), 1u);
  EXPECT_EQ(store->search("\"room temperature\"")->size(), 1u);
  auto prefix = store->search("hyd*");
  ASSERT_TRUE(prefix.ok());
  ASSERT_EQ(prefix->size(), 1u);
  EXPECT_EQ((*prefix)[0].message_id, 5);
  EXPECT_EQ(store->search("te*")->size(), 2u);  // "temperature" (message 2), "Tell" (message 7)
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'message_fts' AND sql LIKE "
                          "'%prefix = ''2 3''%'"),
            1);
  EXPECT_TRUE(store->check_integrity().ok());
  ASSERT_TRUE(store->close().ok());
}

TEST(HistoryMigration, FailedMigrationLeavesTheOldVersionInPlace) {
  ScratchDir dir;
  const std::string path = dir.file("history.db");
  load_sql_fixture("v1.sql", path);
  raw_exec(path, "CREATE TABLE models (x)");  // collides with what version 2 creates
  auto store = HistoryStore::open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("migrating to schema version 2"), std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find(path), std::string::npos);
  EXPECT_EQ(raw_int(path, "PRAGMA user_version"), 1);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM messages"), 8);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM pragma_table_info('conversations') WHERE name = 'folder'"), 0);
  int backups = 0;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    backups += entry.path().extension() == ".bak" ? 1 : 0;
  EXPECT_EQ(backups, 1);
}

TEST(HistoryMigration, BackupNeverOverwritesAnExistingFile) {
  ScratchDir dir;
  const std::string path = dir.file("history.db");
  load_sql_fixture("v1.sql", path);
  auto db = sql::Connection::open(path, sql::OpenMode::read_write);
  ASSERT_TRUE(db.ok());
  auto first = write_backup(*db, 1, {});
  auto second = write_backup(*db, 1, {});
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_TRUE(fs::exists(*first));
  EXPECT_TRUE(fs::exists(*second));
}

}  // namespace
}  // namespace nibble::history
