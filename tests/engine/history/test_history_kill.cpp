// The kill test: a child process (history_kill_helper) streams a reply into the history and is
// SIGKILLed at a random moment, 50 times into the same file. After every kill the file must pass
// the integrity checks, keep every earlier conversation exactly, and hold the killed reply as a
// prefix of what was streamed, at least as long as the last flush the child reported.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "history_test_util.h"
#include "stream_text.h"

extern char** environ;

namespace nibble::history {
namespace {

using namespace testing;
using Clock = std::chrono::steady_clock;

struct ChildReport {
  bool ready = false;
  ConversationId conversation = 0;
  MessageId user = 0, reply = 0;
  std::size_t flushed = 0;
  bool done = false;
};

ChildReport parse_report(const std::string& out) {
  ChildReport r;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (lines.eof()) break;  // a line cut by the kill
    std::istringstream words(line);
    std::string word;
    words >> word;
    if (word == "ready") {
      long long c = 0, u = 0, a = 0;
      words >> c >> u >> a;
      r.ready = true;
      r.conversation = c;
      r.user = u;
      r.reply = a;
    } else if (word == "flushed") {
      std::size_t n = 0;
      words >> n;
      r.flushed = std::max(r.flushed, n);
    } else if (word == "done") {
      r.done = true;
    }
  }
  return r;
}

// Runs the helper, kills it after `delay`, returns everything it printed.
std::string run_and_kill(const std::string& db, unsigned seed, std::chrono::milliseconds delay) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::string seed_text = std::to_string(seed);
  std::string helper = NIBBLE_HISTORY_KILL_HELPER;
  char* argv[] = {helper.data(), const_cast<char*>(db.c_str()), seed_text.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  EXPECT_EQ(rc, 0) << "cannot start " << helper;
  std::string out;
  char buf[4096];
  const auto deadline = Clock::now() + delay;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) > 0) {
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  return out;
}

// What a reply may look like after a kill: a prefix of the stream, at least `flushed` long.
::testing::AssertionResult reply_survived(const std::string& text, unsigned seed, std::size_t flushed) {
  const std::string full = stream_full(seed);
  if (text.size() < flushed)
    return ::testing::AssertionFailure() << "lost flushed text: " << text.size() << " < " << flushed << " bytes";
  if (full.compare(0, text.size(), text) != 0)
    return ::testing::AssertionFailure() << "the saved reply is not a prefix of what was streamed";
  return ::testing::AssertionSuccess();
}

TEST(HistoryKill, ReplyCheckerRejectsLostOrWrongText) {
  const std::string full = stream_full(3);
  EXPECT_TRUE(reply_survived(full.substr(0, 100), 3, 100));
  EXPECT_FALSE(reply_survived(full.substr(0, 99), 3, 100));
  std::string wrong = full.substr(0, 100);
  wrong[50] ^= 1;
  EXPECT_FALSE(reply_survived(wrong, 3, 10));
  EXPECT_FALSE(reply_survived(stream_full(4).substr(0, 100), 3, 10));
}

TEST(HistoryKill, SigkillAtRandomMomentsLosesNothingThatWasFlushed) {
  ScratchDir dir;
  const std::string db = dir.file("history.db");
  std::mt19937 rng(20260527);
  std::uniform_int_distribution<int> delay_ms(0, 400);
  std::map<ConversationId, ConversationTree> saved;  // every conversation as it stood after its run
  int mid_stream = 0, before_ready = 0, finished = 0;
  std::size_t flushed_bytes = 0;
  const auto start = Clock::now();

  for (unsigned run = 1; run <= 50; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    ChildReport child = parse_report(run_and_kill(db, run, std::chrono::milliseconds(delay_ms(rng))));

    auto store = open_ok(db);
    ASSERT_TRUE(store);
    auto integrity = store->check_integrity();
    ASSERT_TRUE(integrity.ok()) << integrity.error().to_string();
    EXPECT_LE(store->open_report().recovered_messages, 1);

    for (const auto& [id, before] : saved) {
      auto now = store->tree(id);
      ASSERT_TRUE(now.ok()) << "conversation " << id << " lost";
      ASSERT_EQ(now->messages.size(), before.messages.size());
      for (std::size_t i = 0; i < before.messages.size(); ++i) {
        EXPECT_EQ(now->messages[i].content, before.messages[i].content);
        EXPECT_EQ(now->messages[i].status, before.messages[i].status);
      }
    }

    auto ids = store->conversation_ids(ListFilter::all);
    ASSERT_TRUE(ids.ok());
    for (ConversationId id : *ids) {
      if (saved.count(id)) continue;
      auto tree = store->tree(id);
      ASSERT_TRUE(tree.ok());
      EXPECT_EQ(tree->conversation.title, "run " + std::to_string(run));
      ASSERT_LE(tree->messages.size(), 2u);
      if (tree->messages.size() >= 1) {
        EXPECT_EQ(tree->messages[0].content, "question " + std::to_string(run));
      }
      if (tree->messages.size() == 2) {
        const Message& reply = tree->messages[1];
        EXPECT_TRUE(reply_survived(reply.content, run, child.flushed));
        // Finished replies are whole; anything else was cut by the kill and is now interrupted.
        if (reply.status == MessageStatus::complete) {
          EXPECT_EQ(reply.content, stream_full(run));
        } else {
          EXPECT_EQ(reply.status, MessageStatus::interrupted);
        }
        if (child.done) {
          EXPECT_EQ(reply.status, MessageStatus::complete);
        }
      }
      saved[id] = *tree;
    }
    if (child.ready) {
      ASSERT_TRUE(saved.count(child.conversation)) << "the conversation the child reported is missing";
      ASSERT_EQ(saved[child.conversation].messages.size(), 2u);
      EXPECT_EQ(saved[child.conversation].messages[1].id, child.reply);
      if (child.done) ++finished;
      else ++mid_stream;
      flushed_bytes += child.flushed;
    } else {
      ++before_ready;
    }
    ASSERT_TRUE(store->close().ok());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("kill test: 50 runs in %.1f s: %d killed while streaming, %d before the reply existed, %d after "
              "finishing; %zu flushed bytes checked\n",
              seconds, mid_stream, before_ready, finished, flushed_bytes);
  EXPECT_GE(mid_stream, 25) << "most kills should land while the reply is streaming";
}

}  // namespace
}  // namespace nibble::history
