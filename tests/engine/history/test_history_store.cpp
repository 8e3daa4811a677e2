// HistoryStore operations: conversations (create, rename, pin, folder, trash, restore, purge,
// retention), messages as a tree (branches, selection), paged listing, models, and which thread
// runs completion callbacks.
#include <gtest/gtest.h>

#include <limits>
#include <thread>

#include "history_test_util.h"

namespace nibble::history {
namespace {

using namespace testing;

NewMessage msg(ConversationId c, std::optional<MessageId> parent, Role role, std::string text) {
  NewMessage m;
  m.conversation_id = c;
  m.parent_id = parent;
  m.role = role;
  m.content = std::move(text);
  return m;
}

class HistoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store = open_ok(dir.file("history.db")); ASSERT_TRUE(store); }
  ScratchDir dir;
  std::unique_ptr<HistoryStore> store;
};

TEST_F(HistoryStoreTest, NewFileIsCreatedAtTheCurrentSchema) {
  const auto& report = store->open_report();
  EXPECT_TRUE(report.created);
  EXPECT_EQ(report.found_version, 0);
  EXPECT_EQ(report.schema_version, kSchemaVersion);
  EXPECT_TRUE(report.backup_path.empty());
  EXPECT_FALSE(store->read_only());
  EXPECT_EQ(raw_int(store->path(), "PRAGMA user_version"), kSchemaVersion);
  EXPECT_TRUE(store->check_integrity().ok());
}

TEST_F(HistoryStoreTest, ConversationLifecycle) {
  NewConversation nc;
  nc.title = "Trip planning";
  nc.system_prompt = "You are terse.";
  nc.settings_json = R"({ "top_k": 40, "temperature": 0.7 })";  // stored compact, key order kept
  nc.folder = "travel";
  ConversationId id = wait_ok(store->create_conversation(nc));
  ASSERT_GT(id, 0);

  auto c = store->conversation(id);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->title, "Trip planning");
  EXPECT_EQ(c->system_prompt, "You are terse.");
  EXPECT_EQ(c->folder, "travel");
  EXPECT_EQ(c->settings_json, R"({"top_k":40,"temperature":0.7})");
  EXPECT_FALSE(c->pinned);
  EXPECT_FALSE(c->trashed_at);

  wait_ok(store->rename(id, "Trip to Lisbon"));
  wait_ok(store->set_pinned(id, true));
  c = store->conversation(id);
  EXPECT_EQ(c->title, "Trip to Lisbon");
  EXPECT_TRUE(c->pinned);

  // Purging needs the trash first: one key never deletes a conversation.
  auto purge_live = store->purge(id).get();
  ASSERT_FALSE(purge_live.ok());
  EXPECT_EQ(purge_live.error().kind, ErrorKind::invalid_argument);

  wait_ok(store->move_to_trash(id));
  EXPECT_TRUE(store->conversation(id)->trashed_at.has_value());
  EXPECT_TRUE(store->list()->items.empty());
  ListQuery trashed;
  trashed.filter = ListFilter::trashed;
  ASSERT_EQ(store->list(trashed)->items.size(), 1u);

  // A trashed conversation takes no new messages until restored.
  auto refused = store->add_message(msg(id, std::nullopt, Role::user, "hi")).get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::invalid_argument);

  wait_ok(store->restore(id));
  EXPECT_FALSE(store->conversation(id)->trashed_at.has_value());
  EXPECT_EQ(store->list()->items.size(), 1u);

  wait_ok(store->move_to_trash(id));
  wait_ok(store->purge(id));
  auto gone = store->conversation(id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);
}

TEST_F(HistoryStoreTest, InvalidSettingsJsonIsRefused) {
  NewConversation nc;
  nc.settings_json = "[1,2]";
  auto r = store->create_conversation(nc).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
}

TEST_F(HistoryStoreTest, RegenerateAndEditAddSiblingBranchesAndNothingIsOverwritten) {
  ConversationId c = wait_ok(store->create_conversation({}));
  MessageId u1 = wait_ok(store->add_message(msg(c, std::nullopt, Role::user, "What is 2+2?")));
  MessageId a1 = wait_ok(store->add_message(msg(c, u1, Role::assistant, "5")));
  MessageId a2 = wait_ok(store->add_message(msg(c, u1, Role::assistant, "4")));  // regenerate
  MessageId u2 = wait_ok(store->add_message(msg(c, a2, Role::user, "Thanks")));
  MessageId u1b = wait_ok(store->add_message(msg(c, std::nullopt, Role::user, "What is 3+3?")));  // edit first

  auto tree = store->tree(c);
  ASSERT_TRUE(tree.ok());
  ASSERT_EQ(tree->messages.size(), 5u);
  auto path = selected_path(*tree);
  ASSERT_EQ(path.size(), 1u);
  EXPECT_EQ(path[0]->id, u1b);  // the edit is the selected branch

  wait_ok(store->select_branch(u2));
  tree = store->tree(c);
  path = selected_path(*tree);
  ASSERT_EQ(path.size(), 3u);
  EXPECT_EQ(path[0]->id, u1);
  EXPECT_EQ(path[1]->id, a2);
  EXPECT_EQ(path[2]->id, u2);
  EXPECT_EQ(path[1]->content, "4");

  auto sib = siblings(*tree, a2);
  ASSERT_EQ(sib.size(), 2u);
  EXPECT_EQ(sib[0]->id, a1);
  EXPECT_EQ(sib[0]->content, "5");  // the old answer is still there

  wait_ok(store->select_branch(a1));
  tree = store->tree(c);
  path = selected_path(*tree);
  ASSERT_EQ(path.size(), 2u);
  EXPECT_EQ(path[1]->id, a1);
}

TEST_F(HistoryStoreTest, ParentFromAnotherConversationIsRefused) {
  ConversationId c1 = wait_ok(store->create_conversation({}));
  ConversationId c2 = wait_ok(store->create_conversation({}));
  MessageId m = wait_ok(store->add_message(msg(c1, std::nullopt, Role::user, "x")));
  auto r = store->add_message(msg(c2, m, Role::assistant, "y")).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
  auto missing = store->add_message(msg(c1, 999999, Role::assistant, "y")).get();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
}

TEST_F(HistoryStoreTest, StreamedMessageKeepsMetadataAndMetrics) {
  ConversationId c = wait_ok(store->create_conversation({}));
  MessageId u = wait_ok(store->add_message(msg(c, std::nullopt, Role::user, "hi")));
  NewMessage a = msg(c, u, Role::assistant, "");
  a.status = MessageStatus::streaming;
  a.model_id = "Llama-3.1-8B-Instruct";
  a.quantization = "exl2 4.0bpw";
  a.sampler_json = R"({"temperature":0.6,"top_p":0.9})";
  a.template_hash = "9f2c";
  a.metrics.prompt_tokens = 12;
  MessageId id = wait_ok(store->add_message(a));
  store->append_delta(id, "Thinking", DeltaField::reasoning);
  store->append_delta(id, "Hel");
  store->append_delta(id, "lo!");
  MessageFinish f;
  f.metrics.completion_tokens = 3;
  f.metrics.time_to_first_token_ms = 41.5;
  f.metrics.prefill_tokens_per_s = 2500.0;
  f.metrics.decode_tokens_per_s = 87.25;
  wait_ok(store->finish_message(id, f));

  auto m = store->message(id);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->content, "Hello!");
  EXPECT_EQ(m->reasoning, "Thinking");
  EXPECT_EQ(m->status, MessageStatus::complete);
  EXPECT_EQ(m->model_id, "Llama-3.1-8B-Instruct");
  EXPECT_EQ(m->quantization, "exl2 4.0bpw");
  EXPECT_EQ(m->sampler_json, R"({"temperature":0.6,"top_p":0.9})");
  EXPECT_EQ(m->template_hash, "9f2c");
  EXPECT_EQ(m->metrics.prompt_tokens, 12);
  EXPECT_EQ(m->metrics.completion_tokens, 3);
  EXPECT_EQ(m->metrics.time_to_first_token_ms, 41.5);
  EXPECT_EQ(m->metrics.prefill_tokens_per_s, 2500.0);
  EXPECT_EQ(m->metrics.decode_tokens_per_s, 87.25);

  MessageFinish again;
  again.status = MessageStatus::streaming;
  auto bad = store->finish_message(id, again).get();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::invalid_argument);
}

TEST_F(HistoryStoreTest, ListIsPagedPinnedFirstThenMostRecent) {
  std::vector<ConversationId> ids;
  for (int i = 0; i < 23; ++i) {
    NewConversation nc;
    nc.title = "c" + std::to_string(i);
    nc.folder = i % 2 == 0 ? "even" : "";
    ConversationId id = wait_ok(store->create_conversation(nc));
    ids.push_back(id);
    wait_ok(store->add_message(msg(id, std::nullopt, Role::user, "m")));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  wait_ok(store->add_message(msg(ids[3], std::nullopt, Role::user, "newer")));
  wait_ok(store->set_pinned(ids[10], true));
  wait_ok(store->move_to_trash(ids[7]));

  std::vector<ConversationId> expected = {ids[10], ids[3]};
  for (int i = 22; i >= 0; --i)
    if (i != 3 && i != 10 && i != 7) expected.push_back(ids[i]);

  std::vector<ConversationId> got;
  ListQuery q;
  q.limit = 5;
  int pages = 0;
  for (;;) {
    auto page = store->list(q);
    ASSERT_TRUE(page.ok()) << page.error().to_string();
    ++pages;
    for (const auto& item : page->items) {
      got.push_back(item.conversation.id);
      EXPECT_EQ(item.message_count, item.conversation.id == ids[3] ? 2 : 1);
    }
    if (!page->next) break;
    EXPECT_EQ(page->items.size(), 5u);
    q.after = page->next;
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(pages, 5);

  ListQuery even;
  even.folder = "even";
  even.limit = 100;
  auto page = store->list(even);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.size(), 12u);
  for (const auto& item : page->items) EXPECT_EQ(item.conversation.folder, "even");

  ListQuery zero;
  zero.limit = 0;
  EXPECT_EQ(store->list(zero).error().kind, ErrorKind::invalid_argument);
}

TEST_F(HistoryStoreTest, TrashExpiresAfterTheRetentionSetting) {
  EXPECT_EQ(*store->trash_retention_days(), 30);
  ConversationId old_one = wait_ok(store->create_conversation({}));
  ConversationId kept = wait_ok(store->create_conversation({}));
  wait_ok(store->move_to_trash(old_one));
  wait_ok(store->move_to_trash(kept));
  wait_ok(store->set_trash_retention_days(7));
  EXPECT_EQ(*store->trash_retention_days(), 7);
  EXPECT_EQ(store->set_trash_retention_days(-1).get().error().kind, ErrorKind::invalid_argument);
  std::string path = store->path();
  ASSERT_TRUE(store->close().ok());
  // Pretend the first was trashed 8 days ago: the next open purges it, the other stays.
  raw_exec(path, ("UPDATE conversations SET trashed_at = trashed_at - 8*86400000 WHERE id = " +
                  std::to_string(old_one)).c_str());
  store = open_ok(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->open_report().purged_conversations, 1);
  EXPECT_EQ(store->conversation(old_one).error().kind, ErrorKind::not_found);
  EXPECT_TRUE(store->conversation(kept).ok());
  EXPECT_EQ(wait_ok(store->purge_trash_before(std::numeric_limits<TimestampMs>::max())), 1);
}

TEST_F(HistoryStoreTest, ModelLibraryUpsertsByPath) {
  ModelRecord m;
  m.path = "/models/Qwen3-8B-exl2-4.0bpw";
  m.name = "Qwen3 8B";
  m.format = "exl2";
  m.architecture = "Qwen3ForCausalLM";
  m.bits_per_weight = 4.0;
  m.context_length = 32768;
  ModelId id = wait_ok(store->upsert_model(m));
  m.name = "Qwen3 8B Instruct";
  m.info_json = R"({"heads":32})";
  EXPECT_EQ(wait_ok(store->upsert_model(m)), id);
  auto models = store->models();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].name, "Qwen3 8B Instruct");
  EXPECT_EQ((*models)[0].bits_per_weight, 4.0);
  EXPECT_EQ((*models)[0].info_json, R"({"heads":32})");
  wait_ok(store->remove_model(id));
  EXPECT_TRUE(store->models()->empty());
  EXPECT_EQ(store->remove_model(id).get().error().kind, ErrorKind::not_found);
}

TEST_F(HistoryStoreTest, CallbacksRunOnTheWriterThreadBeforeTheFutureIsReady) {
  std::thread::id callback_thread;
  bool called = false;
  auto f = store->create_conversation({}, [&](const Result<ConversationId>& r) {
    callback_thread = std::this_thread::get_id();
    called = r.ok();
  });
  ASSERT_TRUE(f.get().ok());
  EXPECT_TRUE(called);
  EXPECT_NE(callback_thread, std::this_thread::get_id());

  std::thread::id second;
  wait_ok(store->rename(1, "x", [&](const Status&) { second = std::this_thread::get_id(); }));
  EXPECT_EQ(second, callback_thread);  // one writer thread
}

TEST_F(HistoryStoreTest, WritesAfterCloseFailCleanly) {
  ASSERT_TRUE(store->close().ok());
  auto r = store->create_conversation({}).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
  EXPECT_FALSE(store->list().ok());
  EXPECT_FALSE(store->flush().get().ok());
  EXPECT_TRUE(store->close().ok());
}

}  // namespace
}  // namespace nibble::history
