// The writer thread: streamed deltas wait at most flush_interval, flush() and close() commit at
// once, operations keep their order, one bad operation does not spoil its batch, background
// errors are reported, and many threads can write and read at the same time.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "history_test_util.h"

namespace nibble::history {
namespace {

using namespace testing;
using Clock = std::chrono::steady_clock;

struct Streaming {
  ConversationId conversation;
  MessageId message;
};

Streaming start_stream(HistoryStore& store, const std::string& title = "t") {
  NewConversation nc;
  nc.title = title;
  ConversationId c = wait_ok(store.create_conversation(nc));
  NewMessage m;
  m.conversation_id = c;
  m.role = Role::assistant;
  m.status = MessageStatus::streaming;
  return {c, wait_ok(store.add_message(m))};
}

TEST(HistoryWriter, DeltasAreCommittedWithinTheFlushInterval) {
  ScratchDir dir;
  HistoryOptions options;
  options.flush_interval = std::chrono::milliseconds(300);
  auto store = open_ok(dir.file("h.db"), options);
  ASSERT_TRUE(store);
  auto s = start_stream(*store);
  auto start = Clock::now();
  store->append_delta(s.message, "hello ");
  store->append_delta(s.message, "world");
  EXPECT_EQ(store->message(s.message)->content, "");  // still in memory
  std::string seen;
  while (Clock::now() - start < std::chrono::seconds(5)) {
    seen = store->message(s.message)->content;
    if (!seen.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto waited = Clock::now() - start;
  EXPECT_EQ(seen, "hello world");
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
}

TEST(HistoryWriter, FlushAndCloseCommitPendingText) {
  ScratchDir dir;
  HistoryOptions options;
  options.flush_interval = std::chrono::seconds(60);
  auto store = open_ok(dir.file("h.db"), options);
  ASSERT_TRUE(store);
  auto s = start_stream(*store);
  store->append_delta(s.message, "flushed");
  wait_ok(store->flush());
  EXPECT_EQ(store->message(s.message)->content, "flushed");
  store->append_delta(s.message, " and closed");
  ASSERT_TRUE(store->close().ok());

  store = open_ok(dir.file("h.db"));
  ASSERT_TRUE(store);
  auto m = store->message(s.message);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->content, "flushed and closed");
  // It was still streaming when the store closed: the next start calls it interrupted.
  EXPECT_EQ(m->status, MessageStatus::interrupted);
  EXPECT_EQ(store->open_report().recovered_messages, 1);
}

TEST(HistoryWriter, FinishComesAfterEveryEarlierDelta) {
  ScratchDir dir;
  auto store = open_ok(dir.file("h.db"));
  ASSERT_TRUE(store);
  auto s = start_stream(*store);
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    std::string piece = std::to_string(i) + ",";
    expected += piece;
    store->append_delta(s.message, piece);
    if (i % 100 == 0) store->append_delta(s.message, "r", DeltaField::reasoning);
  }
  wait_ok(store->finish_message(s.message, {}));
  auto m = store->message(s.message);
  EXPECT_EQ(m->content, expected);
  EXPECT_EQ(m->reasoning, "rrrrr");
  EXPECT_EQ(m->status, MessageStatus::complete);
  // Late text for a finished message is dropped and reported, never appended.
  std::atomic<int> errors{0};
  ASSERT_TRUE(store->close().ok());
  HistoryOptions options;
  options.on_background_error = [&](const Error& e) {
    EXPECT_EQ(e.kind, ErrorKind::not_found);
    ++errors;
  };
  store = open_ok(dir.file("h.db"), options);
  store->append_delta(s.message, "late");
  wait_ok(store->flush());
  EXPECT_EQ(errors.load(), 1);
  EXPECT_EQ(store->message(s.message)->content, expected);
}

TEST(HistoryWriter, OneBadOperationDoesNotSpoilItsBatch) {
  ScratchDir dir;
  auto store = open_ok(dir.file("h.db"));
  ASSERT_TRUE(store);
  NewConversation good;
  good.title = "good";
  NewConversation bad;
  bad.settings_json = "not json";
  std::vector<std::future<Result<ConversationId>>> futures;
  for (int i = 0; i < 30; ++i) futures.push_back(store->create_conversation(i % 3 == 1 ? bad : good));
  int ok = 0, refused = 0;
  for (auto& f : futures) {
    auto r = f.get();
    if (r.ok()) ++ok;
    else {
      EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
      ++refused;
    }
  }
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(refused, 10);
  ListQuery q;
  q.limit = 100;
  EXPECT_EQ(store->list(q)->items.size(), 20u);
}

TEST(HistoryWriter, ManyThreadsWriteAndReadAtOnce) {
  ScratchDir dir;
  HistoryOptions options;
  options.flush_interval = std::chrono::milliseconds(20);
  options.durable_commits = false;
  auto store = open_ok(dir.file("h.db"), options);
  ASSERT_TRUE(store);
  constexpr int kWriters = 4;
  constexpr int kDeltas = 300;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, readers_started{0};
  std::vector<Streaming> streams(kWriters);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      // Writes begin once both readers run, so reads and writes overlap however busy the machine is.
      while (readers_started.load() < 2) std::this_thread::yield();
      streams[w] = start_stream(*store, "writer " + std::to_string(w));
      for (int i = 0; i < kDeltas; ++i) store->append_delta(streams[w].message, "w" + std::to_string(w) + " ");
      MessageFinish f;
      wait_ok(store->finish_message(streams[w].message, f));
    });
  }
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      ++readers_started;
      do {
        auto page = store->list();
        EXPECT_TRUE(page.ok());
        auto hits = store->search("writer");
        EXPECT_TRUE(hits.ok());
        ++reads;
      } while (!done);
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(reads.load(), 0);
  for (int w = 0; w < kWriters; ++w) {
    std::string expected;
    for (int i = 0; i < kDeltas; ++i) expected += "w" + std::to_string(w) + " ";
    EXPECT_EQ(store->message(streams[w].message)->content, expected);
  }
  EXPECT_TRUE(store->check_integrity().ok());
}

TEST(HistoryWriter, AppendDeltaIsCheap) {
  ScratchDir dir;
  auto store = open_ok(dir.file("h.db"));
  ASSERT_TRUE(store);
  auto s = start_stream(*store);
  constexpr int kCalls = 20000;
  auto start = Clock::now();
  for (int i = 0; i < kCalls; ++i) store->append_delta(s.message, " token");
  auto per_call = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kCalls;
  EXPECT_LT(per_call, 1000.0) << per_call << " us per call";
  wait_ok(store->flush());
  EXPECT_EQ(store->message(s.message)->content.size(), 6u * kCalls);
}

}  // namespace
}  // namespace nibble::history
