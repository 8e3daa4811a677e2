// Read queries: one conversation, a page of the conversation list, a conversation's messages,
// the model library and settings, mapped from rows to the public types. Runs on any connection
// (the reader pool's, or the writer's inside a task). Search lives in history/search.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "history/sqlite_db.h"
#include "nibble/history.h"

namespace nibble::history {

inline constexpr const char* kTrashRetentionKey = "trash_retention_days";
inline constexpr int kDefaultTrashRetentionDays = 30;

Result<Conversation> read_conversation(sql::Connection& db, ConversationId id);
Result<ConversationPage> read_page(sql::Connection& db, const ListQuery& query);
Result<std::vector<Message>> read_messages(sql::Connection& db, ConversationId id);
Result<Message> read_message(sql::Connection& db, MessageId id);
Result<ConversationTree> read_tree(sql::Connection& db, ConversationId id);
Result<std::vector<ModelRecord>> read_models(sql::Connection& db);
Result<std::vector<ConversationId>> read_conversation_ids(sql::Connection& db, ListFilter filter);
Result<std::optional<std::string>> read_setting(sql::Connection& db, const char* key);
Result<int> read_trash_retention_days(sql::Connection& db);

// Unknown names (a file from a newer build) read as the closest meaning rather than failing.
Role role_from_db(const std::string& name);
MessageStatus status_from_db(const std::string& name);

}  // namespace nibble::history
