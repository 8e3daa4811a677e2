// Write operations on the writer connection, each called inside the writer's batch transaction
// (under its own savepoint): conversations, messages and branches, trash, models, settings,
// import of whole trees, and the startup recovery of interrupted streams. Validates what it is
// given; invalid_argument / not_found errors leave the rest of the batch untouched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "history/sqlite_db.h"
#include "nibble/history.h"

namespace nibble::history {

Result<ConversationId> insert_conversation(sql::Connection& db, const NewConversation& c, TimestampMs now);
Status patch_conversation(sql::Connection& db, ConversationId id, const ConversationPatch& patch);
Status set_trashed(sql::Connection& db, ConversationId id, bool trashed, TimestampMs now);
Status purge_conversation(sql::Connection& db, ConversationId id);
Result<std::int64_t> purge_trashed_before(sql::Connection& db, TimestampMs cutoff);

Result<MessageId> insert_message(sql::Connection& db, const NewMessage& m, TimestampMs now);
Status finish_message(sql::Connection& db, MessageId id, const MessageFinish& finish, TimestampMs now);
Status select_branch(sql::Connection& db, MessageId id);

Result<ModelId> upsert_model(sql::Connection& db, const ModelRecord& model, TimestampMs now);
Status delete_model(sql::Connection& db, ModelId id);
Status write_setting(sql::Connection& db, const char* key, const std::string& value);

// New conversations from trees whose message ids are local to the trees (see parse_import).
Result<std::vector<ConversationId>> insert_trees(sql::Connection& db, const std::vector<ConversationTree>& trees);

// streaming -> interrupted for every message; returns how many.
Result<std::int64_t> mark_streaming_interrupted(sql::Connection& db, TimestampMs now);

// The compact form of a JSON object (key order kept), or nothing when `text` is not one. Stored
// JSON is always in this form, so that export and import give back the same text.
std::optional<std::string> canonical_json_object(std::string_view text);

}  // namespace nibble::history
