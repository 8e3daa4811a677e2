// Full-text search: the query builder (user text never becomes FTS5 syntax), highlight ranges,
// title and message hits, trash filtering, order, and that streaming text is indexed once the
// message is finished or interrupted.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "history/search.h"
#include "history_test_util.h"

namespace nibble::history {
namespace {

using namespace testing;

TEST(HistorySearchQuery, WordsArePhrasesAndAStarAsksForAPrefix) {
  EXPECT_EQ(build_match_expression("lisbon trip"), "\"lisbon\" \"trip\"");
  EXPECT_EQ(build_match_expression("  lis*  "), "\"lis\"*");
  EXPECT_EQ(build_match_expression("l* trip**"), "\"l\" \"trip\"*");  // one letter is too short a prefix
  EXPECT_EQ(build_match_expression("\"exact phrase\" more"), "\"exact phrase\" \"more\"");
  EXPECT_EQ(build_match_expression(""), "");
  EXPECT_EQ(build_match_expression("- ... \"\" *"), "");
}

TEST(HistorySearchQuery, FtsOperatorsAreJustWords) {
  EXPECT_EQ(build_match_expression("cats OR dogs NOT birds"), "\"cats\" \"OR\" \"dogs\" \"NOT\" \"birds\"");
  EXPECT_EQ(build_match_expression("col:value (x) ^y"), "\"col:value\" \"(x)\" \"^y\"");
  EXPECT_EQ(build_match_expression("unbalanced \"quote"), "\"unbalanced\" \"quote\"");
}

TEST(HistorySearchQuery, HighlightsBecomeByteRanges) {
  auto h = parse_highlights("a \x02" "cat\x03 and a \x02" "dog\x03.");
  EXPECT_EQ(h.text, "a cat and a dog.");
  ASSERT_EQ(h.highlights.size(), 2u);
  EXPECT_EQ(h.text.substr(h.highlights[0].first, h.highlights[0].second - h.highlights[0].first), "cat");
  EXPECT_EQ(h.text.substr(h.highlights[1].first, h.highlights[1].second - h.highlights[1].first), "dog");
}

class HistorySearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store = open_ok(dir.file("h.db"));
    ASSERT_TRUE(store);
    lisbon = add("Trip to Lisbon", {"Where should I eat in Lisbon?", "Try the pastéis de nata in Belém."});
    cooking = add("Cooking", {"How long do I boil an egg?", "About seven minutes for a firm yolk."});
    trashed = add("Old stuff", {"Lisbon again, but trashed"});
    wait_ok(store->move_to_trash(trashed));
  }

  ConversationId add(const std::string& title, const std::vector<std::string>& texts) {
    NewConversation nc;
    nc.title = title;
    ConversationId c = wait_ok(store->create_conversation(nc));
    std::optional<MessageId> parent;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      NewMessage m;
      m.conversation_id = c;
      m.parent_id = parent;
      m.role = i % 2 == 0 ? Role::user : Role::assistant;
      m.content = texts[i];
      parent = wait_ok(store->add_message(m));
    }
    return c;
  }

  ScratchDir dir;
  std::unique_ptr<HistoryStore> store;
  ConversationId lisbon = 0, cooking = 0, trashed = 0;
};

TEST_F(HistorySearchTest, FindsTitlesAndMessagesWithHighlights) {
  auto hits = store->search("lisbon");
  ASSERT_TRUE(hits.ok()) << hits.error().to_string();
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].conversation_id, lisbon);
  EXPECT_FALSE((*hits)[0].message_id.has_value());  // the title
  EXPECT_EQ((*hits)[1].conversation_id, lisbon);
  ASSERT_TRUE((*hits)[1].message_id.has_value());
  EXPECT_EQ((*hits)[1].role, Role::user);
  const auto& snip = (*hits)[1].snippet;
  ASSERT_EQ(snip.highlights.size(), 1u);
  EXPECT_EQ(snip.text.substr(snip.highlights[0].first, snip.highlights[0].second - snip.highlights[0].first),
            "Lisbon");
}

TEST_F(HistorySearchTest, DiacriticsAndPrefixesMatch) {
  EXPECT_TRUE(store->search("pasteis bel")->empty());  // no prefix unless asked for
  auto hits = store->search("pasteis bel*");
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].conversation_id, lisbon);
  EXPECT_EQ(store->search("yol*")->size(), 1u);
  EXPECT_EQ(store->search("yolk")->size(), 1u);
  EXPECT_EQ(store->search("zebra")->size(), 0u);
  EXPECT_TRUE(store->search("   ")->empty());
  EXPECT_TRUE(store->search("\"unbalanced OR (").ok());
}

TEST_F(HistorySearchTest, TrashIsLeftOutUnlessAskedFor) {
  SearchOptions with_trash;
  with_trash.include_trashed = true;
  auto all = store->search("lisbon", with_trash);
  ASSERT_TRUE(all.ok());
  bool saw_trashed = false;
  for (const auto& h : *all) saw_trashed |= h.conversation_id == trashed;
  EXPECT_TRUE(saw_trashed);
  auto live = store->search("trashed");
  ASSERT_TRUE(live.ok());
  for (const auto& h : *live) EXPECT_NE(h.conversation_id, trashed);
}

TEST_F(HistorySearchTest, RenamedTitlesAndPurgedConversationsStayInSync) {
  wait_ok(store->rename(cooking, "Breakfast eggs"));
  EXPECT_EQ(store->search("breakfast")->size(), 1u);
  EXPECT_EQ(store->search("cooking")->size(), 0u);
  wait_ok(store->purge(trashed));
  SearchOptions with_trash;
  with_trash.include_trashed = true;
  auto after = store->search("lisbon", with_trash);
  ASSERT_TRUE(after.ok());
  for (const auto& h : *after) EXPECT_NE(h.conversation_id, trashed);
  EXPECT_TRUE(store->check_integrity().ok());
}

TEST_F(HistorySearchTest, RecentOrderPutsNewestMessagesFirst) {
  ConversationId later = add("Later", {"egg salad recipe"});
  auto hits = store->search("egg");  // newest first by default
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].conversation_id, later);
  EXPECT_EQ((*hits)[1].conversation_id, cooking);
}

TEST_F(HistorySearchTest, StreamingTextIsIndexedWhenTheMessageEnds) {
  NewMessage m;
  m.conversation_id = cooking;
  m.role = Role::assistant;
  m.status = MessageStatus::streaming;
  MessageId id = wait_ok(store->add_message(m));
  store->append_delta(id, "scrambled with chives");
  wait_ok(store->flush());
  EXPECT_TRUE(store->search("chives")->empty());
  EXPECT_TRUE(store->check_integrity().ok());
  MessageFinish f;
  f.status = MessageStatus::interrupted;
  wait_ok(store->finish_message(id, f));
  auto hits = store->search("chives");
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].message_id, id);
  EXPECT_TRUE(store->check_integrity().ok());
}

TEST_F(HistorySearchTest, LimitCapsTheHits) {
  for (int i = 0; i < 10; ++i) add("Lisbon " + std::to_string(i), {"lisbon " + std::to_string(i)});
  SearchOptions few;
  few.limit = 8;
  auto hits = store->search("lisbon", few);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->size(), 8u);
  int titles = 0;
  for (const auto& h : *hits) titles += h.message_id ? 0 : 1;
  EXPECT_EQ(titles, 2);  // a quarter of the limit
}

TEST_F(HistorySearchTest, RelevanceRanksTheNewestMatchesOfVeryCommonWords) {
  // kRelevanceWindow + 100 messages with "common"; the strongest match is the oldest one, out of
  // the window, and a second strong match sits among the newest.
  ConversationTree tree;
  tree.conversation.title = "bulk";
  const int n = kRelevanceWindow + 100;
  for (int i = 0; i < n; ++i) {
    Message m;
    m.id = i + 1;
    if (i > 0) m.parent_id = i;
    m.role = i % 2 ? Role::assistant : Role::user;
    m.content = "a common word among many other ordinary words in a longer message number " + std::to_string(i);
    if (i == 0) m.content = "common common common oldest";
    if (i == n - 10) m.content = "common common common newest";
    if (i == 5) m.content += " rareword";
    tree.messages.push_back(m);
  }
  wait_ok(store->import_trees({tree}));
  SearchOptions relevance;
  relevance.order = SearchOrder::relevance;
  auto hits = store->search("common", relevance);
  ASSERT_TRUE(hits.ok()) << hits.error().to_string();
  ASSERT_FALSE(hits->empty());
  EXPECT_NE((*hits)[0].snippet.text.find("newest"), std::string::npos) << (*hits)[0].snippet.text;
  for (const auto& h : *hits) EXPECT_EQ(h.snippet.text.find("oldest"), std::string::npos);
  // Older matches are still found by more specific queries, and newest-first has no window.
  auto old = store->search("common oldest", relevance);
  ASSERT_EQ(old->size(), 1u);
  auto newest_first = store->search("common");
  ASSERT_EQ(newest_first->size(), 20u);
  EXPECT_NE((*newest_first)[0].snippet.text.find("number " + std::to_string(n - 1)), std::string::npos)
      << (*newest_first)[0].snippet.text;
  EXPECT_EQ(store->search("rareword")->size(), 1u);
}


TEST_F(HistorySearchTest, RelevanceOrderIsSqliteBm25WhileTheIndexFitsTheSample) {
  // Random messages over a small vocabulary with skewed word frequencies; for several multi-phrase
  // queries the i-th hit must carry the i-th best score that SQLite's own bm25() gives.
  const std::vector<std::string> vocabulary = {"zorb", "quix", "flam", "trell", "vosk", "plim", "drax",
                                               "kem", "yurt", "snib", "wolk", "frem"};
  std::mt19937 rng(7);
  std::discrete_distribution<int> word({30, 22, 15, 10, 8, 6, 5, 4, 3, 2, 2, 1});
  std::uniform_int_distribution<int> length(2, 40);
  ConversationTree tree;
  tree.conversation.title = "bulk";
  for (int i = 0; i < 400; ++i) {
    Message m;
    m.id = i + 100;
    if (i > 0) m.parent_id = i + 99;
    m.role = i % 2 ? Role::assistant : Role::user;
    const int n = length(rng);
    for (int k = 0; k < n; ++k) m.content += (k ? " " : "") + vocabulary[static_cast<std::size_t>(word(rng))];
    tree.messages.push_back(m);
  }
  wait_ok(store->import_trees({tree}));

  sqlite3* oracle = nullptr;
  ASSERT_EQ(sqlite3_open_v2(store->path().c_str(), &oracle, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  for (const char* query : {"zorb quix", "quix vosk", "kem \"zorb quix\"", "fl* trell", "snib wolk zorb", "flam"}) {
    SCOPED_TRACE(query);
    SearchOptions relevance;
    relevance.order = SearchOrder::relevance;
    relevance.limit = 40;
    auto hits = store->search(query, relevance);
    ASSERT_TRUE(hits.ok()) << hits.error().to_string();
    std::map<MessageId, double> score;
    std::vector<double> best;
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(oracle,
                                 "SELECT rowid, bm25(message_fts) FROM message_fts WHERE message_fts MATCH ?1 "
                                 "ORDER BY bm25(message_fts)",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    const std::string expr = build_match_expression(query);
    sqlite3_bind_text(stmt, 1, expr.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      score[sqlite3_column_int64(stmt, 0)] = sqlite3_column_double(stmt, 1);
      best.push_back(sqlite3_column_double(stmt, 1));
    }
    sqlite3_finalize(stmt);
    ASSERT_GE(best.size(), 2u);
    std::size_t messages = 0;
    for (const auto& h : *hits) {
      if (!h.message_id) continue;  // a title hit
      const MessageId id = *h.message_id;
      ASSERT_TRUE(score.count(id)) << id;
      ASSERT_LT(messages, best.size());
      EXPECT_NEAR(score[id], best[messages], 1e-9 * std::max(1.0, std::abs(best[messages])))
          << "hit " << messages << " is message " << id;
      ++messages;
    }
    EXPECT_EQ(messages, std::min<std::size_t>(40, best.size()));
  }
  sqlite3_close(oracle);
}

}  // namespace
}  // namespace nibble::history
