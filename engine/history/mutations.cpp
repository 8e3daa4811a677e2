// The SQL of every write. Each function checks what it can cheaply (the conversation exists and
// is not trashed, a parent belongs to the same conversation, JSON fields are objects) so that a
// bad call becomes a typed error instead of a half-applied change.
#include "history/mutations.h"

#include <nlohmann/json.hpp>

#include <unordered_map>

namespace nibble::history {
namespace {

Result<std::string> require_json_object(const std::string& text, const char* field) {
  auto canonical = canonical_json_object(text);
  if (!canonical) return make_error(ErrorKind::invalid_argument, field, " must be a JSON object");
  return std::move(*canonical);
}

// Not found, trashed, or live.
Result<bool> conversation_trashed(sql::Connection& db, ConversationId id) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("SELECT trashed_at IS NOT NULL FROM conversations WHERE id = ?1"));
  s.bind(1, id);
  NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return make_error(ErrorKind::not_found, db.path(), ": no conversation ", id);
  return s.int64(0) != 0;
}

Status touch_conversation(sql::Connection& db, ConversationId id, TimestampMs now) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("UPDATE conversations SET updated_at = max(updated_at, ?2) WHERE id = ?1"));
  s.bind(1, id).bind(2, now);
  return s.run();
}

Status set_selected(sql::Connection& db, ConversationId conversation, std::optional<MessageId> parent,
                    MessageId child) {
  if (parent) {
    NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("UPDATE messages SET selected_child_id = ?2 WHERE id = ?1"));
    s.bind(1, *parent).bind(2, child);
    return s.run();
  }
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("UPDATE conversations SET selected_root_id = ?2 WHERE id = ?1"));
  s.bind(1, conversation).bind(2, child);
  return s.run();
}

constexpr const char* kInsertMessage =
    "INSERT INTO messages (conversation_id, parent_id, selected_child_id, role, content, reasoning, status, "
    "error, model_id, quantization, sampler_json, template_hash, prompt_tokens, completion_tokens, ttft_ms, "
    "prefill_tps, decode_tps, created_at, updated_at) "
    "VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

Result<MessageId> insert_message_row(sql::Connection& db, ConversationId conversation,
                                     std::optional<MessageId> parent, const Message& m) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(kInsertMessage));
  s.bind(1, conversation).bind(2, parent).bind(3, role_name(m.role)).bind(4, m.content).bind(5, m.reasoning);
  s.bind(6, status_name(m.status)).bind(7, m.error).bind(8, m.model_id).bind(9, m.quantization);
  s.bind(10, m.sampler_json).bind(11, m.template_hash);
  s.bind(12, m.metrics.prompt_tokens).bind(13, m.metrics.completion_tokens);
  s.bind(14, m.metrics.time_to_first_token_ms).bind(15, m.metrics.prefill_tokens_per_s);
  s.bind(16, m.metrics.decode_tokens_per_s).bind(17, m.created_at).bind(18, m.updated_at);
  NIBBLE_TRY(s.run());
  return db.last_insert_rowid();
}

}  // namespace

std::optional<std::string> canonical_json_object(std::string_view text) {
  auto j = nlohmann::ordered_json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<ConversationId> insert_conversation(sql::Connection& db, const NewConversation& c, TimestampMs now) {
  NIBBLE_ASSIGN_OR_RETURN(std::string settings, require_json_object(c.settings_json, "conversation settings"));
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(
      "INSERT INTO conversations (title, created_at, updated_at, pinned, folder, system_prompt, model_ref, "
      "settings_json) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7)"));
  s.bind(1, c.title).bind(2, now).bind(3, c.pinned).bind(4, c.folder).bind(5, c.system_prompt);
  s.bind(6, c.model_ref).bind(7, settings);
  NIBBLE_TRY(s.run());
  return db.last_insert_rowid();
}

Status patch_conversation(sql::Connection& db, ConversationId id, const ConversationPatch& p) {
  std::optional<std::string> settings;
  if (p.settings_json) {
    NIBBLE_ASSIGN_OR_RETURN(settings, require_json_object(*p.settings_json, "conversation settings"));
  }
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(
      "UPDATE conversations SET title = coalesce(?2, title), pinned = coalesce(?3, pinned), "
      "folder = coalesce(?4, folder), system_prompt = coalesce(?5, system_prompt), "
      "model_ref = coalesce(?6, model_ref), settings_json = coalesce(?7, settings_json) WHERE id = ?1"));
  s.bind(1, id).bind(2, p.title).bind(3, p.pinned).bind(4, p.folder).bind(5, p.system_prompt);
  s.bind(6, p.model_ref).bind(7, settings);
  NIBBLE_TRY(s.run());
  if (db.changes() == 0) return make_error(ErrorKind::not_found, db.path(), ": no conversation ", id);
  return {};
}

Status set_trashed(sql::Connection& db, ConversationId id, bool trashed, TimestampMs now) {
  NIBBLE_ASSIGN_OR_RETURN(bool is_trashed, conversation_trashed(db, id));
  if (is_trashed == trashed) return {};
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("UPDATE conversations SET trashed_at = ?2 WHERE id = ?1"));
  s.bind(1, id);
  if (trashed) s.bind(2, now);
  else s.bind_null(2);
  return s.run();
}

Status purge_conversation(sql::Connection& db, ConversationId id) {
  NIBBLE_ASSIGN_OR_RETURN(bool trashed, conversation_trashed(db, id));
  if (!trashed)
    return make_error(ErrorKind::invalid_argument, "conversation ", id,
                      " is not in the trash: move it to the trash before deleting it for good");
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("DELETE FROM conversations WHERE id = ?1 AND trashed_at IS NOT NULL"));
  s.bind(1, id);
  return s.run();
}

Result<std::int64_t> purge_trashed_before(sql::Connection& db, TimestampMs cutoff) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("DELETE FROM conversations WHERE trashed_at IS NOT NULL AND trashed_at < ?1"));
  s.bind(1, cutoff);
  NIBBLE_TRY(s.run());
  return db.changes();
}

Result<MessageId> insert_message(sql::Connection& db, const NewMessage& m, TimestampMs now) {
  NIBBLE_ASSIGN_OR_RETURN(std::string sampler, require_json_object(m.sampler_json, "sampler settings"));
  NIBBLE_ASSIGN_OR_RETURN(bool trashed, conversation_trashed(db, m.conversation_id));
  if (trashed)
    return make_error(ErrorKind::invalid_argument, "conversation ", m.conversation_id,
                      " is in the trash: restore it before adding messages");
  if (m.parent_id) {
    NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("SELECT conversation_id FROM messages WHERE id = ?1"));
    s.bind(1, *m.parent_id);
    NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return make_error(ErrorKind::not_found, db.path(), ": no message ", *m.parent_id);
    if (s.int64(0) != m.conversation_id)
      return make_error(ErrorKind::invalid_argument, "message ", *m.parent_id, " belongs to conversation ",
                        s.int64(0), ", not ", m.conversation_id);
  }
  Message row;
  row.role = m.role;
  row.content = m.content;
  row.reasoning = m.reasoning;
  row.status = m.status;
  row.model_id = m.model_id;
  row.quantization = m.quantization;
  row.sampler_json = std::move(sampler);
  row.template_hash = m.template_hash;
  row.metrics = m.metrics;
  row.created_at = now;
  row.updated_at = now;
  NIBBLE_ASSIGN_OR_RETURN(MessageId id, insert_message_row(db, m.conversation_id, m.parent_id, row));
  NIBBLE_TRY(set_selected(db, m.conversation_id, m.parent_id, id));
  NIBBLE_TRY(touch_conversation(db, m.conversation_id, now));
  return id;
}

Status finish_message(sql::Connection& db, MessageId id, const MessageFinish& f, TimestampMs now) {
  if (f.status == MessageStatus::streaming)
    return make_error(ErrorKind::invalid_argument, "finish_message: the final status cannot be 'streaming'");
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(
      "UPDATE messages SET status = ?2, error = ?3, prompt_tokens = coalesce(?4, prompt_tokens), "
      "completion_tokens = coalesce(?5, completion_tokens), ttft_ms = coalesce(?6, ttft_ms), "
      "prefill_tps = coalesce(?7, prefill_tps), decode_tps = coalesce(?8, decode_tps), updated_at = ?9 "
      "WHERE id = ?1 RETURNING conversation_id"));
  s.bind(1, id).bind(2, status_name(f.status)).bind(3, f.error);
  s.bind(4, f.metrics.prompt_tokens).bind(5, f.metrics.completion_tokens);
  s.bind(6, f.metrics.time_to_first_token_ms).bind(7, f.metrics.prefill_tokens_per_s);
  s.bind(8, f.metrics.decode_tokens_per_s).bind(9, now);
  NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return make_error(ErrorKind::not_found, db.path(), ": no message ", id);
  ConversationId conversation = s.int64(0);
  NIBBLE_TRY(s.run());
  return touch_conversation(db, conversation, now);
}

Status select_branch(sql::Connection& db, MessageId id) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("SELECT parent_id, conversation_id FROM messages WHERE id = ?1"));
  MessageId current = id;
  for (int depth = 0;; ++depth) {
    s.reset();
    s.bind(1, current);
    NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return make_error(ErrorKind::not_found, db.path(), ": no message ", current);
    std::optional<MessageId> parent = s.opt_int64(0);
    ConversationId conversation = s.int64(1);
    NIBBLE_TRY(set_selected(db, conversation, parent, current));
    if (!parent) return {};
    if (depth > 1000000) return make_error(ErrorKind::format, db.path(), ": message ", id, " has a parent cycle");
    current = *parent;
  }
}

Result<ModelId> upsert_model(sql::Connection& db, const ModelRecord& m, TimestampMs now) {
  if (m.path.empty()) return make_error(ErrorKind::invalid_argument, "a model record needs a path");
  NIBBLE_ASSIGN_OR_RETURN(std::string info, require_json_object(m.info_json, "model info"));
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(
      "INSERT INTO models (path, name, format, architecture, quantization, bits_per_weight, parameter_count, "
      "context_length, size_bytes, info_json, added_at, last_used_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT (path) DO UPDATE SET name = excluded.name, format = excluded.format, "
      "architecture = excluded.architecture, quantization = excluded.quantization, "
      "bits_per_weight = excluded.bits_per_weight, parameter_count = excluded.parameter_count, "
      "context_length = excluded.context_length, size_bytes = excluded.size_bytes, "
      "info_json = excluded.info_json, last_used_at = coalesce(excluded.last_used_at, last_used_at) "
      "RETURNING id"));
  s.bind(1, m.path).bind(2, m.name).bind(3, m.format).bind(4, m.architecture).bind(5, m.quantization);
  s.bind(6, m.bits_per_weight).bind(7, m.parameter_count).bind(8, m.context_length).bind(9, m.size_bytes);
  s.bind(10, info).bind(11, m.added_at != 0 ? m.added_at : now).bind(12, m.last_used_at);
  NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return make_error(ErrorKind::internal, db.path(), ": model upsert returned no id");
  ModelId id = s.int64(0);
  NIBBLE_TRY(s.run());
  return id;
}

Status delete_model(sql::Connection& db, ModelId id) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached("DELETE FROM models WHERE id = ?1"));
  s.bind(1, id);
  NIBBLE_TRY(s.run());
  if (db.changes() == 0) return make_error(ErrorKind::not_found, db.path(), ": no model ", id);
  return {};
}

Status write_setting(sql::Connection& db, const char* key, const std::string& value) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(
      "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  s.bind(1, key).bind(2, value);
  return s.run();
}

Result<std::vector<ConversationId>> insert_trees(sql::Connection& db, const std::vector<ConversationTree>& trees) {
  std::vector<ConversationId> ids;
  ids.reserve(trees.size());
  for (const auto& tree : trees) {
    const Conversation& c = tree.conversation;
    NIBBLE_ASSIGN_OR_RETURN(std::string settings, require_json_object(c.settings_json, "conversation settings"));
    NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(
        "INSERT INTO conversations (title, created_at, updated_at, pinned, folder, system_prompt, model_ref, "
        "settings_json, trashed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
    s.bind(1, c.title).bind(2, c.created_at).bind(3, c.updated_at).bind(4, c.pinned).bind(5, c.folder);
    s.bind(6, c.system_prompt).bind(7, c.model_ref).bind(8, settings).bind(9, c.trashed_at);
    NIBBLE_TRY(s.run());
    ConversationId conversation = db.last_insert_rowid();
    std::unordered_map<MessageId, MessageId> new_id;
    new_id.reserve(tree.messages.size());
    for (const Message& m : tree.messages) {
      std::optional<MessageId> parent;
      if (m.parent_id) {
        auto it = new_id.find(*m.parent_id);
        if (it == new_id.end())
          return make_error(ErrorKind::invalid_argument, "import: message ", m.id, " comes before its parent ",
                            *m.parent_id);
        parent = it->second;
      }
      Message row = m;
      NIBBLE_ASSIGN_OR_RETURN(row.sampler_json, require_json_object(m.sampler_json, "sampler settings"));
      if (row.status == MessageStatus::streaming) row.status = MessageStatus::interrupted;
      NIBBLE_ASSIGN_OR_RETURN(MessageId id, insert_message_row(db, conversation, parent, row));
      if (!new_id.emplace(m.id, id).second)
        return make_error(ErrorKind::invalid_argument, "import: message id ", m.id, " appears twice");
    }
    for (const Message& m : tree.messages) {
      if (!m.selected_child_id) continue;
      auto child = new_id.find(*m.selected_child_id);
      if (child == new_id.end()) continue;
      NIBBLE_ASSIGN_OR_RETURN(auto u, db.cached("UPDATE messages SET selected_child_id = ?2 WHERE id = ?1"));
      u.bind(1, new_id.at(m.id)).bind(2, child->second);
      NIBBLE_TRY(u.run());
    }
    if (c.selected_root_id) {
      auto root = new_id.find(*c.selected_root_id);
      if (root != new_id.end()) NIBBLE_TRY(set_selected(db, conversation, std::nullopt, root->second));
    }
    ids.push_back(conversation);
  }
  return ids;
}

Result<std::int64_t> mark_streaming_interrupted(sql::Connection& db, TimestampMs now) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(
      "UPDATE messages SET status = 'interrupted', updated_at = ?1 WHERE status = 'streaming'"));
  s.bind(1, now);
  NIBBLE_TRY(s.run());
  return db.changes();
}

}  // namespace nibble::history
