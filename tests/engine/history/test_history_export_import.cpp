// Export and import: JSON round trip (content, branches, metadata), Markdown and HTML output,
// text-generation-webui chat files, and the errors for files we cannot read.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "history_test_util.h"

namespace nibble::history {
namespace {

using namespace testing;

// A history with everything the format must carry: branches, reasoning, metrics, statuses,
// settings, folders, pinning, the trash, and text that needs escaping.
void fill(HistoryStore& store) {
  NewConversation a;
  a.title = "Branches & <tags> \"quoted\"";
  a.folder = "work";
  a.pinned = true;
  a.system_prompt = "Answer in one line.\nBe kind.";
  a.model_ref = "/models/Llama-3.1-8B-exl2";
  a.settings_json = R"({"temperature": 0.7, "max_tokens": 512, "stop": ["\n\n"]})";
  ConversationId c = wait_ok(store.create_conversation(a));
  NewMessage u;
  u.conversation_id = c;
  u.role = Role::user;
  u.content = "Write <script>alert('x')</script> & tell me — naïvely — about 🦀";
  MessageId u1 = wait_ok(store.add_message(u));
  NewMessage r;
  r.conversation_id = c;
  r.parent_id = u1;
  r.role = Role::assistant;
  r.content = "First answer";
  r.reasoning = "Let me think.";
  r.model_id = "Llama-3.1-8B";
  r.quantization = "exl2 4.0bpw";
  r.sampler_json = R"({"top_k":40,"temperature":0.7,"min_p":0.05})";
  r.template_hash = "0123abcd";
  r.metrics.prompt_tokens = 33;
  r.metrics.completion_tokens = 2;
  r.metrics.time_to_first_token_ms = 12.125;
  r.metrics.prefill_tokens_per_s = 1234.5;
  r.metrics.decode_tokens_per_s = 0.1 + 0.2;  // a double that needs all its digits
  MessageId a1 = wait_ok(store.add_message(r));
  r.content = "Second answer";
  r.status = MessageStatus::error;
  MessageId a2 = wait_ok(store.add_message(r));
  MessageFinish failed;
  failed.status = MessageStatus::error;
  failed.error = "out of memory on GPU 0";
  wait_ok(store.finish_message(a2, failed));
  NewMessage follow;
  follow.conversation_id = c;
  follow.parent_id = a1;
  follow.role = Role::user;
  follow.content = "";
  wait_ok(store.add_message(follow));
  NewMessage cut = r;
  cut.parent_id = u1;
  cut.content = "Third, cut short";
  cut.status = MessageStatus::streaming;
  MessageId a3 = wait_ok(store.add_message(cut));
  MessageFinish stop;
  stop.status = MessageStatus::interrupted;
  wait_ok(store.finish_message(a3, stop));
  wait_ok(store.select_branch(a1));

  NewConversation b;
  b.title = "In the trash";
  ConversationId t = wait_ok(store.create_conversation(b));
  NewMessage tm;
  tm.conversation_id = t;
  tm.role = Role::system;
  tm.content = "system text";
  wait_ok(store.add_message(tm));
  wait_ok(store.move_to_trash(t));

  NewConversation e;
  e.title = "Empty";
  wait_ok(store.create_conversation(e));
}

std::map<std::string, ConversationTree> trees_by_title(HistoryStore& store) {
  std::map<std::string, ConversationTree> out;
  auto ids = store.conversation_ids(ListFilter::all);
  EXPECT_TRUE(ids.ok());
  for (ConversationId id : *ids) {
    auto tree = store.tree(id);
    EXPECT_TRUE(tree.ok());
    out[tree->conversation.title] = *tree;
  }
  return out;
}

std::string export_all(HistoryStore& store, ExportFormat format, ListFilter filter = ListFilter::all) {
  std::ostringstream out;
  auto st = store.export_to(out, format, {}, filter);
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  return out.str();
}

// Compares two trees field by field, mapping ids by position (both are in id order).
void expect_same_tree(const ConversationTree& a, const ConversationTree& b) {
  const Conversation &ca = a.conversation, &cb = b.conversation;
  EXPECT_EQ(ca.title, cb.title);
  EXPECT_EQ(ca.created_at, cb.created_at);
  EXPECT_EQ(ca.updated_at, cb.updated_at);
  EXPECT_EQ(ca.pinned, cb.pinned);
  EXPECT_EQ(ca.folder, cb.folder);
  EXPECT_EQ(ca.system_prompt, cb.system_prompt);
  EXPECT_EQ(ca.model_ref, cb.model_ref);
  EXPECT_EQ(ca.settings_json, cb.settings_json);
  EXPECT_EQ(ca.trashed_at, cb.trashed_at);
  ASSERT_EQ(a.messages.size(), b.messages.size());
  std::map<MessageId, MessageId> to_b;
  for (std::size_t i = 0; i < a.messages.size(); ++i) to_b[a.messages[i].id] = b.messages[i].id;
  auto mapped = [&](std::optional<MessageId> id) -> std::optional<MessageId> {
    if (!id) return std::nullopt;
    return to_b.at(*id);
  };
  EXPECT_EQ(mapped(ca.selected_root_id), cb.selected_root_id);
  for (std::size_t i = 0; i < a.messages.size(); ++i) {
    const Message &ma = a.messages[i], &mb = b.messages[i];
    SCOPED_TRACE("message " + std::to_string(i));
    EXPECT_EQ(mapped(ma.parent_id), mb.parent_id);
    EXPECT_EQ(mapped(ma.selected_child_id), mb.selected_child_id);
    EXPECT_EQ(ma.role, mb.role);
    EXPECT_EQ(ma.content, mb.content);
    EXPECT_EQ(ma.reasoning, mb.reasoning);
    EXPECT_EQ(ma.status, mb.status);
    EXPECT_EQ(ma.error, mb.error);
    EXPECT_EQ(ma.model_id, mb.model_id);
    EXPECT_EQ(ma.quantization, mb.quantization);
    EXPECT_EQ(ma.sampler_json, mb.sampler_json);
    EXPECT_EQ(ma.template_hash, mb.template_hash);
    EXPECT_EQ(ma.metrics, mb.metrics);
    EXPECT_EQ(ma.created_at, mb.created_at);
    EXPECT_EQ(ma.updated_at, mb.updated_at);
  }
}

TEST(HistoryExport, JsonRoundTripKeepsContentBranchesAndMetadata) {
  ScratchDir dir;
  auto source = open_ok(dir.file("a.db"));
  ASSERT_TRUE(source);
  fill(*source);
  const std::string json = export_all(*source, ExportFormat::json);

  auto trees = parse_import(json, ImportFormat::detect, "export.json");
  ASSERT_TRUE(trees.ok()) << trees.error().to_string();
  ASSERT_EQ(trees->size(), 3u);
  auto target = open_ok(dir.file("b.db"));
  ASSERT_TRUE(target);
  auto ids = wait_ok(target->import_trees(*trees));
  EXPECT_EQ(ids.size(), 3u);

  auto before = trees_by_title(*source);
  auto after = trees_by_title(*target);
  ASSERT_EQ(before.size(), 3u);
  ASSERT_EQ(after.size(), 3u);
  for (const auto& [title, tree] : before) {
    SCOPED_TRACE(title);
    ASSERT_TRUE(after.count(title));
    expect_same_tree(tree, after.at(title));
  }
  EXPECT_TRUE(target->check_integrity().ok());
  EXPECT_EQ(target->search("naively")->size(), 1u);

  // The comparison notices a changed field.
  const std::string branches = "Branches & <tags> \"quoted\"";
  auto changed = after.at(branches);
  changed.messages[2].metrics.decode_tokens_per_s = 0.3;
  EXPECT_NONFATAL_FAILURE(expect_same_tree(before.at(branches), changed), "metrics");
}

TEST(HistoryExport, MarkdownShowsTheSelectedBranchAndNotesTheOthers) {
  ScratchDir dir;
  auto store = open_ok(dir.file("a.db"));
  ASSERT_TRUE(store);
  fill(*store);
  const std::string md = export_all(*store, ExportFormat::markdown, ListFilter::active);
  EXPECT_NE(md.find("# Branches & <tags> \"quoted\""), std::string::npos);
  EXPECT_NE(md.find("> Answer in one line.\n> Be kind."), std::string::npos);
  EXPECT_NE(md.find("First answer"), std::string::npos);
  EXPECT_EQ(md.find("Second answer"), std::string::npos);  // not on the selected branch
  EXPECT_NE(md.find("*Version 1 of 3 of this message"), std::string::npos);
  EXPECT_NE(md.find("<details><summary>Reasoning</summary>\n\nLet me think."), std::string::npos);
  EXPECT_NE(md.find("## Assistant · Llama-3.1-8B · exl2 4.0bpw · 2 tokens · 0.3 tok/s"), std::string::npos);
  EXPECT_EQ(md.find("In the trash"), std::string::npos);
  EXPECT_NE(md.find("# Empty"), std::string::npos);
}

TEST(HistoryExport, HtmlIsSelfContainedAndEscaped) {
  ScratchDir dir;
  auto store = open_ok(dir.file("a.db"));
  ASSERT_TRUE(store);
  fill(*store);
  const std::string html = export_all(*store, ExportFormat::html);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>\n"), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("Branches &amp; &lt;tags&gt; &quot;quoted&quot;"), std::string::npos);
  for (const char* external : {"http://", "https://", "src=", "<link", "@import", "url("})
    EXPECT_EQ(html.find(external), std::string::npos) << external;
  EXPECT_NE(html.find("2 other versions of this message"), std::string::npos);
  EXPECT_NE(html.find("Second answer"), std::string::npos);  // inside the versions block
  EXPECT_NE(html.find("🦀"), std::string::npos);
}

TEST(HistoryImport, TextGenerationWebuiChat) {
  auto text = read_bytes(std::string(NIBBLE_TEST_DATA_DIR) + "/history/tgwui_basic.json");
  auto trees = parse_import(text, ImportFormat::detect, "/some/where/Assistant_20250605.json");
  ASSERT_TRUE(trees.ok()) << trees.error().to_string();
  ASSERT_EQ(trees->size(), 1u);
  const auto& tree = (*trees)[0];
  EXPECT_EQ(tree.conversation.title, "Assistant_20250605");
  auto path = selected_path(tree);
  ASSERT_EQ(path.size(), 5u);
  EXPECT_EQ(path[0]->role, Role::assistant);  // the greeting
  EXPECT_EQ(path[0]->content, "Hello! I'm your assistant. Ask me anything.");
  EXPECT_EQ(path[1]->role, Role::user);
  EXPECT_EQ(path[1]->content, "What's 2 & 2?");  // raw text, not the escaped "visible"
  EXPECT_EQ(path[2]->content, "It's 4 <exactly>.");
  EXPECT_EQ(path[4]->content, "You're welcome!");

  ScratchDir dir;
  auto store = open_ok(dir.file("h.db"));
  ASSERT_TRUE(store);
  auto ids = wait_ok(store->import_trees(*trees));
  ASSERT_EQ(ids.size(), 1u);
  auto stored = store->tree(ids[0]);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(selected_path(*stored).size(), 5u);
}

TEST(HistoryImport, WebuiVersionsBecomeBranches) {
  auto text = read_bytes(std::string(NIBBLE_TEST_DATA_DIR) + "/history/tgwui_versions.json");
  auto trees = parse_import(text, ImportFormat::tgwui_json, "colours.json");
  ASSERT_TRUE(trees.ok()) << trees.error().to_string();
  const auto& tree = (*trees)[0];
  ASSERT_EQ(tree.messages.size(), 6u);  // user, 3 versions, user, reply
  auto path = selected_path(tree);
  ASSERT_EQ(path.size(), 4u);
  EXPECT_EQ(path[1]->content, "Blue.");  // current_version_index 1
  EXPECT_EQ(path[1]->model_id, "Qwen2.5-7B-Instruct-exl2");
  EXPECT_EQ(path[3]->content, "Green.");
  auto versions = siblings(tree, path[1]->id);
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0]->content, "Red.");
  EXPECT_EQ(versions[2]->content, "Yellow.");
  EXPECT_EQ(path[0]->created_at, 1749132180000);  // Jun 05, 2025 14:03 UTC
  EXPECT_EQ(versions[2]->created_at, 1749132300000);
  EXPECT_EQ(tree.conversation.created_at, 1749132180000);
}

TEST(HistoryImport, OldWebuiFormatAndVisibleOnlyFiles) {
  auto old = parse_import(read_bytes(std::string(NIBBLE_TEST_DATA_DIR) + "/history/tgwui_old.json"),
                          ImportFormat::detect, "old.json");
  ASSERT_TRUE(old.ok()) << old.error().to_string();
  EXPECT_EQ(selected_path((*old)[0]).size(), 4u);
  auto visible = parse_import(R"({"visible": [["1 &lt; 2", "Yes &amp; no"]]})", ImportFormat::detect, "v.json");
  ASSERT_TRUE(visible.ok()) << visible.error().to_string();
  auto path = selected_path((*visible)[0]);
  ASSERT_EQ(path.size(), 2u);
  EXPECT_EQ(path[0]->content, "1 < 2");
  EXPECT_EQ(path[1]->content, "Yes & no");
}

TEST(HistoryImport, UnreadableFilesGiveErrorsThatSayWhere) {
  auto not_json = parse_import("{oops", ImportFormat::detect, "chat.json");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.error().kind, ErrorKind::format);
  EXPECT_NE(not_json.error().message.find("chat.json"), std::string::npos);

  auto unknown = parse_import(R"({"hello": 1})", ImportFormat::detect, "x.json");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::format);

  auto newer = parse_import(R"({"format": "nibble.history", "version": 99, "conversations": []})",
                            ImportFormat::detect, "n.json");
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.error().kind, ErrorKind::unsupported);

  auto bad_role = parse_import(
      R"({"format": "nibble.history", "version": 1, "conversations": [{"messages": [
          {"id": 1, "role": "user"}, {"id": 2, "parent": 1, "role": "wizard"}]}]})",
      ImportFormat::detect, "r.json");
  ASSERT_FALSE(bad_role.ok());
  EXPECT_NE(bad_role.error().message.find("conversations[0].messages[1].role"), std::string::npos)
      << bad_role.error().message;

  auto orphan = parse_import(
      R"({"format": "nibble.history", "version": 1, "conversations": [{"messages": [
          {"id": 2, "parent": 7, "role": "user"}]}]})",
      ImportFormat::detect, "o.json");
  ASSERT_FALSE(orphan.ok());
  EXPECT_NE(orphan.error().message.find("parent"), std::string::npos);

  auto cycle = parse_import(
      R"({"format": "nibble.history", "version": 1, "conversations": [{"messages": [
          {"id": 1, "parent": 2, "role": "user"}, {"id": 2, "parent": 1, "role": "user"}]}]})",
      ImportFormat::detect, "c.json");
  ASSERT_FALSE(cycle.ok());
  EXPECT_NE(cycle.error().message.find("ancestor"), std::string::npos);

  auto bad_row = parse_import(R"({"internal": [["only one"]]})", ImportFormat::detect, "w.json");
  ASSERT_FALSE(bad_row.ok());
  EXPECT_NE(bad_row.error().message.find("internal[0]"), std::string::npos);
}

TEST(HistoryImport, OutOfOrderMessagesAreOrderedParentsFirst) {
  auto trees = parse_import(
      R"({"format": "nibble.history", "version": 1, "conversations": [{"title": "t", "selected_root": 5,
          "messages": [{"id": 9, "parent": 5, "role": "assistant", "content": "b", "status": "streaming"},
                       {"id": 5, "role": "user", "content": "a", "selected_child": 9}]}]})",
      ImportFormat::nibble_json, "o.json");
  ASSERT_TRUE(trees.ok()) << trees.error().to_string();
  const auto& m = (*trees)[0].messages;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].id, 5);
  EXPECT_EQ(m[1].id, 9);
  EXPECT_EQ(m[1].status, MessageStatus::interrupted);
  ScratchDir dir;
  auto store = open_ok(dir.file("h.db"));
  auto ids = wait_ok(store->import_trees(*trees));
  auto tree = store->tree(ids.at(0));
  ASSERT_TRUE(tree.ok());
  auto path = selected_path(*tree);
  ASSERT_EQ(path.size(), 2u);
  EXPECT_EQ(path[1]->content, "b");
}

}  // namespace
}  // namespace nibble::history
