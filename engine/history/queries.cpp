// Row-to-struct mapping and the read queries. The list uses keyset pagination over the
// conversations_by_recency index (pinned, updated_at, id), so every page costs the same.
#include "history/queries.h"

#include <cstdlib>

namespace nibble::history {
namespace {

#define NIBBLE_CONVERSATION_COLUMNS                                                                  \
  "c.id, c.title, c.created_at, c.updated_at, c.pinned, c.folder, c.system_prompt, c.model_ref, " \
  "c.settings_json, c.trashed_at, c.selected_root_id"
constexpr int kConversationColumnCount = 11;

#define NIBBLE_MESSAGE_COLUMNS                                                                          \
  "id, conversation_id, parent_id, selected_child_id, role, content, reasoning, status, error, "       \
  "model_id, quantization, sampler_json, template_hash, prompt_tokens, completion_tokens, ttft_ms, " \
  "prefill_tps, decode_tps, created_at, updated_at"

Conversation conversation_from_row(const sql::StatementView& s) {
  Conversation c;
  c.id = s.int64(0);
  c.title = s.text(1);
  c.created_at = s.int64(2);
  c.updated_at = s.int64(3);
  c.pinned = s.int64(4) != 0;
  c.folder = s.text(5);
  c.system_prompt = s.text(6);
  c.model_ref = s.text(7);
  c.settings_json = s.text(8);
  c.trashed_at = s.opt_int64(9);
  c.selected_root_id = s.opt_int64(10);
  return c;
}

Message message_from_row(const sql::StatementView& s) {
  Message m;
  m.id = s.int64(0);
  m.conversation_id = s.int64(1);
  m.parent_id = s.opt_int64(2);
  m.selected_child_id = s.opt_int64(3);
  m.role = role_from_db(s.text(4));
  m.content = s.text(5);
  m.reasoning = s.text(6);
  m.status = status_from_db(s.text(7));
  m.error = s.text(8);
  m.model_id = s.text(9);
  m.quantization = s.text(10);
  m.sampler_json = s.text(11);
  m.template_hash = s.text(12);
  m.metrics.prompt_tokens = s.opt_int64(13);
  m.metrics.completion_tokens = s.opt_int64(14);
  m.metrics.time_to_first_token_ms = s.opt_real(15);
  m.metrics.prefill_tokens_per_s = s.opt_real(16);
  m.metrics.decode_tokens_per_s = s.opt_real(17);
  m.created_at = s.int64(18);
  m.updated_at = s.int64(19);
  return m;
}

// Page queries: ?1..?3 cursor (pinned, updated_at, id), ?4 folder or NULL, ?5 limit.
#define NIBBLE_PAGE_SELECT                                                                   \
  "SELECT " NIBBLE_CONVERSATION_COLUMNS                                                      \
  ", (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) FROM conversations c "
#define NIBBLE_PAGE_ORDER " AND (?4 IS NULL OR c.folder = ?4) ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT ?5"
#define NIBBLE_PAGE_AFTER " AND (c.pinned, c.updated_at, c.id) < (?1, ?2, ?3)"

const char* page_sql(ListFilter filter, bool after) {
  static constexpr const char* kActive = NIBBLE_PAGE_SELECT "WHERE c.trashed_at IS NULL" NIBBLE_PAGE_ORDER;
  static constexpr const char* kActiveAfter =
      NIBBLE_PAGE_SELECT "WHERE c.trashed_at IS NULL" NIBBLE_PAGE_AFTER NIBBLE_PAGE_ORDER;
  static constexpr const char* kTrashed = NIBBLE_PAGE_SELECT "WHERE c.trashed_at IS NOT NULL" NIBBLE_PAGE_ORDER;
  static constexpr const char* kTrashedAfter =
      NIBBLE_PAGE_SELECT "WHERE c.trashed_at IS NOT NULL" NIBBLE_PAGE_AFTER NIBBLE_PAGE_ORDER;
  static constexpr const char* kAll = NIBBLE_PAGE_SELECT "WHERE 1" NIBBLE_PAGE_ORDER;
  static constexpr const char* kAllAfter = NIBBLE_PAGE_SELECT "WHERE 1" NIBBLE_PAGE_AFTER NIBBLE_PAGE_ORDER;
  switch (filter) {
    case ListFilter::active: return after ? kActiveAfter : kActive;
    case ListFilter::trashed: return after ? kTrashedAfter : kTrashed;
    case ListFilter::all: return after ? kAllAfter : kAll;
  }
  return kActive;
}

}  // namespace

Role role_from_db(const std::string& name) { return parse_role(name).value_or(Role::user); }

MessageStatus status_from_db(const std::string& name) {
  return parse_status(name).value_or(MessageStatus::complete);
}

Result<Conversation> read_conversation(sql::Connection& db, ConversationId id) {
  NIBBLE_ASSIGN_OR_RETURN(auto s,
                          db.cached("SELECT " NIBBLE_CONVERSATION_COLUMNS " FROM conversations c WHERE c.id = ?1"));
  s.bind(1, id);
  NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return make_error(ErrorKind::not_found, db.path(), ": no conversation ", id);
  return conversation_from_row(s);
}

Result<ConversationPage> read_page(sql::Connection& db, const ListQuery& query) {
  if (query.limit == 0) return make_error(ErrorKind::invalid_argument, "list: the page size must be at least 1");
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(page_sql(query.filter, query.after.has_value())));
  if (query.after) s.bind(1, query.after->pinned).bind(2, query.after->updated_at).bind(3, query.after->id);
  s.bind(4, query.folder);
  s.bind(5, static_cast<std::int64_t>(query.limit) + 1);
  ConversationPage page;
  for (;;) {
    NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    if (page.items.size() == query.limit) {
      const Conversation& last = page.items.back().conversation;
      page.next = ListCursor{last.pinned, last.updated_at, last.id};
      break;
    }
    ConversationListItem item;
    item.conversation = conversation_from_row(s);
    item.message_count = s.int64(kConversationColumnCount);
    page.items.push_back(std::move(item));
  }
  return page;
}

Result<std::vector<Message>> read_messages(sql::Connection& db, ConversationId id) {
  NIBBLE_ASSIGN_OR_RETURN(
      auto s, db.cached("SELECT " NIBBLE_MESSAGE_COLUMNS " FROM messages WHERE conversation_id = ?1 ORDER BY id"));
  s.bind(1, id);
  std::vector<Message> out;
  for (;;) {
    NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back(message_from_row(s));
  }
  return out;
}

Result<Message> read_message(sql::Connection& db, MessageId id) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("SELECT " NIBBLE_MESSAGE_COLUMNS " FROM messages WHERE id = ?1"));
  s.bind(1, id);
  NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return make_error(ErrorKind::not_found, db.path(), ": no message ", id);
  return message_from_row(s);
}

Result<ConversationTree> read_tree(sql::Connection& db, ConversationId id) {
  ConversationTree tree;
  NIBBLE_ASSIGN_OR_RETURN(tree.conversation, read_conversation(db, id));
  NIBBLE_ASSIGN_OR_RETURN(tree.messages, read_messages(db, id));
  return tree;
}

Result<std::vector<ModelRecord>> read_models(sql::Connection& db) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(
      "SELECT id, path, name, format, architecture, quantization, bits_per_weight, parameter_count, "
      "context_length, size_bytes, info_json, added_at, last_used_at FROM models ORDER BY name, path"));
  std::vector<ModelRecord> out;
  for (;;) {
    NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    ModelRecord m;
    m.id = s.int64(0);
    m.path = s.text(1);
    m.name = s.text(2);
    m.format = s.text(3);
    m.architecture = s.text(4);
    m.quantization = s.text(5);
    m.bits_per_weight = s.opt_real(6);
    m.parameter_count = s.opt_int64(7);
    m.context_length = s.opt_int64(8);
    m.size_bytes = s.opt_int64(9);
    m.info_json = s.text(10);
    m.added_at = s.int64(11);
    m.last_used_at = s.opt_int64(12);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<ConversationId>> read_conversation_ids(sql::Connection& db, ListFilter filter) {
  static constexpr const char* kActive =
      "SELECT id FROM conversations WHERE trashed_at IS NULL ORDER BY pinned DESC, updated_at DESC, id DESC";
  static constexpr const char* kTrashed =
      "SELECT id FROM conversations WHERE trashed_at IS NOT NULL ORDER BY pinned DESC, updated_at DESC, id DESC";
  static constexpr const char* kAll = "SELECT id FROM conversations ORDER BY pinned DESC, updated_at DESC, id DESC";
  const char* sql = filter == ListFilter::active ? kActive : filter == ListFilter::trashed ? kTrashed : kAll;
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(sql));
  std::vector<ConversationId> out;
  for (;;) {
    NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back(s.int64(0));
  }
  return out;
}

Result<std::optional<std::string>> read_setting(sql::Connection& db, const char* key) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("SELECT value FROM settings WHERE key = ?1"));
  s.bind(1, key);
  NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.text(0));
}

Result<int> read_trash_retention_days(sql::Connection& db) {
  NIBBLE_ASSIGN_OR_RETURN(auto value, read_setting(db, kTrashRetentionKey));
  if (!value) return kDefaultTrashRetentionDays;
  char* end = nullptr;
  long days = std::strtol(value->c_str(), &end, 10);
  if (end == value->c_str() || *end != '\0' || days < 0) return kDefaultTrashRetentionDays;
  return static_cast<int>(days);
}

}  // namespace nibble::history
