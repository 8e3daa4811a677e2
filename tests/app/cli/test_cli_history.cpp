// nibble-cli history, run in-process: list, search, export (to stdout and to a file), import of
// our JSON and of a text-generation-webui chat, the default path under XDG_DATA_HOME, and errors.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "nibble/history.h"

namespace nibble::cli {
namespace {

namespace fs = std::filesystem;
namespace h = nibble::history;

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  args.insert(args.begin(), {"nibble-cli", "history"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  int code = run_cli(static_cast<int>(argv.size()), argv.data(), {out, err});
  return {code, out.str(), err.str()};
}

class CliHistory : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("nibble-cli-history-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir);
    db = (dir / "history.db").string();
    auto store = h::HistoryStore::open(db);
    ASSERT_TRUE(store.ok());
    h::NewConversation nc;
    nc.title = "Trip to Lisbon";
    nc.pinned = true;
    lisbon = (*store)->create_conversation(nc).get().value();
    h::NewMessage m;
    m.conversation_id = lisbon;
    m.role = h::Role::user;
    m.content = "Where should I eat in Lisbon?";
    auto u = (*store)->add_message(m).get().value();
    m.parent_id = u;
    m.role = h::Role::assistant;
    m.content = "Try the pastéis de nata.";
    (*store)->add_message(m).get().value();
    nc.title = "Eggs";
    nc.pinned = false;
    eggs = (*store)->create_conversation(nc).get().value();
    ASSERT_TRUE((*store)->close().ok());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path dir;
  std::string db;
  h::ConversationId lisbon = 0, eggs = 0;
};

TEST_F(CliHistory, ListsPinnedFirst) {
  auto r = run({"--db", db, "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto first = r.out.find("Trip to Lisbon");
  auto second = r.out.find("Eggs");
  ASSERT_NE(first, std::string::npos) << r.out;
  ASSERT_NE(second, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_NE(r.out.find("* "), std::string::npos);  // the pinned marker
  auto limited = run({"--db", db, "list", "--limit", "1"});
  EXPECT_NE(limited.out.find("raise --limit"), std::string::npos);
  EXPECT_NE(run({"--db", db, "list", "--trash"}).out.find("The trash is empty."), std::string::npos);
}

TEST_F(CliHistory, SearchHighlightsMatches) {
  auto r = run({"--db", db, "search", "pasteis"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("[pastéis]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Trip to Lisbon"), std::string::npos);
  EXPECT_NE(run({"--db", db, "search", "zebra"}).out.find("No matches."), std::string::npos);
  auto ranked = run({"--db", db, "search", "lis*", "--relevance", "--limit", "5"});
  ASSERT_EQ(ranked.code, 0) << ranked.err;
  EXPECT_NE(ranked.out.find("title: Trip to [Lisbon]"), std::string::npos) << ranked.out;
  EXPECT_NE(ranked.out.find("eat in [Lisbon]?"), std::string::npos) << ranked.out;
}

TEST_F(CliHistory, ExportsAndImportsRoundTrip) {
  auto md = run({"--db", db, "export", std::to_string(lisbon), "--format", "md"});
  ASSERT_EQ(md.code, 0) << md.err;
  EXPECT_EQ(md.out.rfind("# Trip to Lisbon", 0), 0u) << md.out;

  const std::string json_path = (dir / "all.json").string();
  auto exported = run({"--db", db, "export", "--all", "--format", "json", "--out", json_path});
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_NE(exported.err.find("exported 2 conversations"), std::string::npos);
  EXPECT_FALSE(fs::exists(json_path + ".partial"));

  const std::string other = (dir / "other.db").string();
  auto imported = run({"--db", other, "import", json_path});
  ASSERT_EQ(imported.code, 0) << imported.err;
  EXPECT_NE(imported.out.find("imported 2 conversations (2 messages)"), std::string::npos) << imported.out;
  auto listed = run({"--db", other, "list"});
  EXPECT_NE(listed.out.find("Trip to Lisbon"), std::string::npos);

  auto html = run({"--db", db, "export", "--all", "--format", "html"});
  ASSERT_EQ(html.code, 0);
  EXPECT_EQ(html.out.rfind("<!DOCTYPE html>", 0), 0u);
}

TEST_F(CliHistory, ImportsWebuiChats) {
  const std::string file = (dir / "Assistant.json").string();
  std::ofstream(file) << R"({"internal": [["hi", "hello"], ["bye", "see you"]], "visible": []})";
  auto r = run({"--db", db, "import", file, "--format", "webui"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("imported 1 conversation (4 messages)"), std::string::npos) << r.out;
  EXPECT_NE(run({"--db", db, "list"}).out.find("Assistant"), std::string::npos);
}

TEST_F(CliHistory, DefaultDatabaseLivesUnderXdgDataHome) {
  const std::string xdg = (dir / "xdg").string();
  const char* old = getenv("XDG_DATA_HOME");
  std::string saved = old ? old : "";
  setenv("XDG_DATA_HOME", xdg.c_str(), 1);
  EXPECT_EQ(h::default_history_path(), xdg + "/nibble/history.db");
  auto missing = run({"list"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find(xdg + "/nibble/history.db"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(xdg + "/nibble/history.db"));  // reading never creates
  const std::string file = (dir / "chat.json").string();
  std::ofstream(file) << R"({"internal": [["hi", "hello"]]})";
  EXPECT_EQ(run({"import", file}).code, 0);
  EXPECT_TRUE(fs::exists(xdg + "/nibble/history.db"));
  if (old) setenv("XDG_DATA_HOME", saved.c_str(), 1);
  else unsetenv("XDG_DATA_HOME");
}

TEST_F(CliHistory, ErrorsAreClear) {
  EXPECT_EQ(run({}).code, 2);
  EXPECT_EQ(run({"--db", db, "frobnicate"}).code, 2);
  EXPECT_EQ(run({"--db", db, "export", "--all"}).code, 2);  // no --format
  EXPECT_EQ(run({"--db", db, "export", "--all", "--format", "pdf"}).code, 2);
  EXPECT_EQ(run({"--db", db, "export", "1", "--all", "--format", "md"}).code, 2);
  EXPECT_EQ(run({"--db", db, "list", "--limit", "zero"}).code, 2);
  auto unknown = run({"--db", db, "export", "999", "--format", "md"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("not_found"), std::string::npos) << unknown.err;
  auto bad_file = run({"--db", db, "import", (dir / "nope.json").string()});
  EXPECT_EQ(bad_file.code, 1);
  EXPECT_NE(bad_file.err.find("nope.json"), std::string::npos);
  const std::string garbage = (dir / "garbage.db").string();
  std::ofstream(garbage) << std::string(4096, 'z');
  auto damaged = run({"--db", garbage, "list"});
  EXPECT_EQ(damaged.code, 1);
  EXPECT_NE(damaged.err.find("format: " + garbage), std::string::npos) << damaged.err;
  auto help = run({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Usage: nibble-cli history"), std::string::npos);
}

}  // namespace
}  // namespace nibble::cli
