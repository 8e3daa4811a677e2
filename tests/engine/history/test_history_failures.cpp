// Failure injection: a damaged file, a folder that cannot be written, a full disk, a locked
// database, a file from a newer Nibble and a foreign SQLite file. In every case the error is typed
// and names the file, the process goes on (the store can be opened again once the cause is gone),
// and the user's file is never overwritten or deleted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>

#include "fault_vfs.h"
#include "history_test_util.h"

namespace nibble::history {
namespace {

using namespace testing;

// A small history in WAL-free state (closed cleanly), for tests that damage or lock it.
std::string make_history(const ScratchDir& dir, const std::string& name = "history.db") {
  const std::string path = dir.file(name);
  auto store = open_ok(path);
  NewConversation nc;
  nc.title = "keep me";
  ConversationId c = wait_ok(store->create_conversation(nc));
  for (int i = 0; i < 40; ++i) {
    NewMessage m;
    m.conversation_id = c;
    m.role = i % 2 ? Role::assistant : Role::user;
    m.content = "message number " + std::to_string(i) + std::string(200, 'x');
    wait_ok(store->add_message(m));
  }
  EXPECT_TRUE(store->close().ok());
  EXPECT_FALSE(fs::exists(path + "-wal"));
  return path;
}

void expect_error(const Result<std::unique_ptr<HistoryStore>>& r, ErrorKind kind, const std::string& path) {
  ASSERT_FALSE(r.ok()) << "opened";
  EXPECT_EQ(r.error().kind, kind) << r.error().to_string();
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().to_string();
}

// Registers the fault VFS and puts it back to normal when the test ends, whatever happens.
struct FaultGuard {
  FaultGuard() { fault_vfs_register(); }
  ~FaultGuard() {
    fault_vfs_deny_write_opens(false);
    fault_vfs_set_write_budget(-1);
  }
};

HistoryOptions fast_busy() {
  HistoryOptions o;
  o.busy_timeout = std::chrono::milliseconds(100);
  return o;
}

TEST(HistoryFailures, RandomBytesAreReportedAndLeftAlone) {
  ScratchDir dir;
  const std::string path = dir.file("history.db");
  std::string garbage(8192, '\0');
  std::mt19937 rng(7);
  for (auto& ch : garbage) ch = static_cast<char>(rng());
  write_bytes(path, garbage);
  expect_error(HistoryStore::open(path), ErrorKind::format, path);
  EXPECT_EQ(read_bytes(path), garbage);
  EXPECT_FALSE(fs::exists(path + "-wal"));
}

TEST(HistoryFailures, TruncatedHeaderIsReportedAndLeftAlone) {
  ScratchDir dir;
  const std::string path = make_history(dir);
  std::string bytes = read_bytes(path).substr(0, 60);
  write_bytes(path, bytes);
  expect_error(HistoryStore::open(path), ErrorKind::format, path);
  EXPECT_EQ(read_bytes(path), bytes);
}

TEST(HistoryFailures, DamagedPagesAreReportedAndLeftAlone) {
  ScratchDir dir;
  const std::string path = make_history(dir);
  std::string bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 3u * 4096);
  for (std::size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>(0xA5 ^ (i * 31));
  write_bytes(path, bytes);
  auto store = HistoryStore::open(path);
  if (store.ok()) {
    // Page 1 survived, so opening may succeed; reading the damaged pages must then fail cleanly.
    auto page = (*store)->list();
    auto check = (*store)->check_integrity();
    EXPECT_FALSE(page.ok() && check.ok());
    if (!check.ok()) {
      EXPECT_EQ(check.error().kind, ErrorKind::format);
    }
    (void)(*store)->close();
  } else {
    EXPECT_EQ(store.error().kind, ErrorKind::format) << store.error().to_string();
  }
  EXPECT_EQ(read_bytes(path), bytes);
}

TEST(HistoryFailures, ForeignSqliteDatabaseIsNotTouched) {
  ScratchDir dir;
  const std::string path = dir.file("other.db");
  raw_exec(path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos VALUES (1, 'cat');");
  const std::string before = read_bytes(path);
  auto r = HistoryStore::open(path);
  expect_error(r, ErrorKind::format, path);
  EXPECT_NE(r.error().message.find("not a Nibble history"), std::string::npos);
  EXPECT_EQ(read_bytes(path), before);
}

TEST(HistoryFailures, FolderThatCannotBeCreated) {
  ScratchDir dir;
  write_bytes(dir.file("a-file"), "not a folder");
  const std::string under_file = dir.file("a-file") + "/history.db";
  expect_error(HistoryStore::open(under_file), ErrorKind::io, under_file);
  const std::string in_proc = "/proc/nibble-history-test/history.db";
  expect_error(HistoryStore::open(in_proc), ErrorKind::io, in_proc);
  EXPECT_EQ(read_bytes(dir.file("a-file")), "not a folder");
}

TEST(HistoryFailures, FolderThatCannotBeWritten) {
  // As root, permissions do not stop writes, so use a folder nobody can create files in: /proc.
  // Otherwise a folder made read-only.
  ScratchDir dir;
  std::string folder = "/proc/self";
  if (geteuid() != 0) {
    folder = dir.file("locked");
    fs::create_directories(folder);
    fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
  }
  const std::string path = folder + "/history.db";
  expect_error(HistoryStore::open(path), ErrorKind::io, path);
  EXPECT_FALSE(fs::exists(path));
  if (geteuid() != 0) fs::permissions(folder, fs::perms::owner_all);
}

TEST(HistoryFailures, FileThatCannotBeWrittenOpensReadOnly) {
  ScratchDir dir;
  const std::string path = make_history(dir);
  const std::string before = read_bytes(path);
  FaultGuard guard;
  fault_vfs_deny_write_opens(true);
  HistoryOptions options;
  options.vfs = kFaultVfsName;
  auto store = open_ok(path, options);
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->read_only());
  EXPECT_NE(store->open_report().read_only_reason.find("cannot be written"), std::string::npos)
      << store->open_report().read_only_reason;
  auto page = store->list();
  ASSERT_TRUE(page.ok()) << page.error().to_string();
  EXPECT_EQ(page->items.size(), 1u);
  auto refused = store->create_conversation({}).get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::read_only);
  EXPECT_NE(refused.error().message.find(path), std::string::npos);
  EXPECT_TRUE(store->close().ok());
  EXPECT_EQ(read_bytes(path), before);
}

TEST(HistoryFailures, FullDiskFailsWritesKeepsStreamedTextAndRecovers) {
  ScratchDir dir;
  const std::string path = dir.file("history.db");
  FaultGuard guard;
  std::atomic<int> background_errors{0};
  HistoryOptions options;
  options.vfs = kFaultVfsName;
  options.flush_interval = std::chrono::milliseconds(20);
  options.on_background_error = [&](const Error& e) {
    EXPECT_EQ(e.kind, ErrorKind::io);
    ++background_errors;
  };
  auto store = open_ok(path, options);
  ASSERT_TRUE(store);
  NewConversation nc;
  nc.title = "before the disk filled";
  ConversationId c = wait_ok(store->create_conversation(nc));
  NewMessage m;
  m.conversation_id = c;
  m.role = Role::assistant;
  m.status = MessageStatus::streaming;
  MessageId id = wait_ok(store->add_message(m));
  store->append_delta(id, "saved. ");
  wait_ok(store->flush());

  fault_vfs_set_write_budget(0);
  NewConversation more;
  more.title = "after";
  auto refused = store->create_conversation(more).get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::io);
  EXPECT_NE(refused.error().message.find("full"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find(path), std::string::npos);
  store->append_delta(id, "kept in memory ");
  store->append_delta(id, "while the disk is full.");
  auto flushed = store->flush().get();
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.error().kind, ErrorKind::io);
  EXPECT_GT(fault_vfs_refused_writes(), 0);
  // Reads go on, and see what was saved before.
  EXPECT_EQ(store->message(id)->content, "saved. ");
  EXPECT_EQ(store->list()->items.size(), 1u);

  fault_vfs_set_write_budget(-1);  // space freed
  wait_ok(store->flush());
  EXPECT_EQ(store->message(id)->content, "saved. kept in memory while the disk is full.");
  EXPECT_GE(background_errors.load(), 1);
  wait_ok(store->create_conversation(more));
  ASSERT_TRUE(store->close().ok());

  store = open_ok(path);
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->check_integrity().ok());
  EXPECT_EQ(store->list()->items.size(), 2u);
  EXPECT_EQ(store->message(id)->content, "saved. kept in memory while the disk is full.");
}

TEST(HistoryFailures, FullDiskAtStartupOpensReadOnly) {
  ScratchDir dir;
  const std::string path = dir.file("history.db");
  {
    auto store = open_ok(path);
    ConversationId c = wait_ok(store->create_conversation({}));
    NewMessage m;
    m.conversation_id = c;
    m.role = Role::assistant;
    m.status = MessageStatus::streaming;  // recovery will need to write
    m.content = "partial";
    wait_ok(store->add_message(m));
    ASSERT_TRUE(store->close().ok());
  }
  const std::string before = read_bytes(path);
  FaultGuard guard;
  fault_vfs_set_write_budget(0);
  HistoryOptions options;
  options.vfs = kFaultVfsName;
  auto store = open_ok(path, options);
  fault_vfs_set_write_budget(-1);
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->read_only());
  EXPECT_NE(store->open_report().read_only_reason.find("full"), std::string::npos)
      << store->open_report().read_only_reason;
  EXPECT_EQ(store->list()->items.size(), 1u);
  ASSERT_TRUE(store->close().ok());
  EXPECT_EQ(read_bytes(path), before);
}

TEST(HistoryFailures, LockedDatabaseIsBusyAndOpensOnceReleased) {
  ScratchDir dir;
  const std::string path = make_history(dir);
  const std::string before = read_bytes(path);
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &locker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(locker, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  expect_error(HistoryStore::open(path, fast_busy()), ErrorKind::busy, path);
  EXPECT_EQ(read_bytes(path), before);
  sqlite3_exec(locker, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(locker);
  auto store = open_ok(path, fast_busy());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->list()->items.size(), 1u);
}

TEST(HistoryFailures, WriteLockHeldElsewhereFailsWritesButNotReads) {
  ScratchDir dir;
  const std::string path = make_history(dir);
  auto store = open_ok(path, fast_busy());
  ASSERT_TRUE(store);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = store->create_conversation({}).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::busy);
  EXPECT_NE(r.error().message.find(path), std::string::npos);
  EXPECT_EQ(store->list()->items.size(), 1u);  // WAL: reads do not wait for the lock
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  wait_ok(store->create_conversation({}));
}

TEST(HistoryFailures, NewerSchemaOpensReadOnlyAndIsNotChanged) {
  ScratchDir dir;
  const std::string path = make_history(dir);
  raw_exec(path, "PRAGMA user_version = 99");
  const std::string before = read_bytes(path);
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->read_only());
  const auto& report = store->open_report();
  EXPECT_EQ(report.found_version, 99);
  EXPECT_TRUE(report.backup_path.empty());
  EXPECT_NE(report.read_only_reason.find("newer version of Nibble"), std::string::npos) << report.read_only_reason;
  EXPECT_NE(report.read_only_reason.find("99"), std::string::npos);
  auto page = store->list();
  ASSERT_TRUE(page.ok()) << page.error().to_string();
  EXPECT_EQ(page->items.size(), 1u);
  EXPECT_EQ(store->search("number")->size(), 20u);
  auto refused = store->rename(page->items[0].conversation.id, "changed").get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::read_only);
  EXPECT_NE(refused.error().message.find("newer version"), std::string::npos);
  store->append_delta(1, "ignored");
  EXPECT_TRUE(store->flush().get().ok());
  ASSERT_TRUE(store->close().ok());
  EXPECT_EQ(read_bytes(path), before);
}

TEST(HistoryFailures, MissingFileWithoutCreateIsNotFound) {
  ScratchDir dir;
  HistoryOptions options;
  options.create_if_missing = false;
  const std::string path = dir.file("nothing.db");
  expect_error(HistoryStore::open(path, options), ErrorKind::not_found, path);
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace nibble::history
