// Public conversation-history API: a SQLite store (conversations, message trees with branches,
// a model library, full-text search) plus export to Markdown/JSON/HTML and import of our JSON and
// text-generation-webui chat files. Implemented in engine/history; used by app/bridge and the CLI.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nibble/error.h"

namespace nibble::history {

using ConversationId = std::int64_t;
using MessageId = std::int64_t;
using ModelId = std::int64_t;
using TimestampMs = std::int64_t;  // Unix time in milliseconds (UTC)

// The schema version this build writes; older files are migrated forward on open, newer ones
// are opened read-only.
inline constexpr int kSchemaVersion = 3;

enum class Role : std::uint8_t { system, user, assistant, tool };
enum class MessageStatus : std::uint8_t {
  complete,     // finished normally
  streaming,    // being generated right now (text arrives through append_delta)
  interrupted,  // generation stopped early: cancelled, or the app died while streaming
  error,        // generation failed; Message::error says why
};
enum class DeltaField : std::uint8_t { content, reasoning };

std::string_view role_name(Role role);
std::optional<Role> parse_role(std::string_view name);
std::string_view status_name(MessageStatus status);
std::optional<MessageStatus> parse_status(std::string_view name);

struct GenerationMetrics {
  std::optional<std::int64_t> prompt_tokens;
  std::optional<std::int64_t> completion_tokens;
  std::optional<double> time_to_first_token_ms;
  std::optional<double> prefill_tokens_per_s;
  std::optional<double> decode_tokens_per_s;
  bool operator==(const GenerationMetrics&) const = default;
};

struct Message {
  MessageId id = 0;
  ConversationId conversation_id = 0;
  std::optional<MessageId> parent_id;          // absent for a first message
  std::optional<MessageId> selected_child_id;  // the branch shown below this message
  Role role = Role::user;
  std::string content;
  std::string reasoning;  // "thinking" text of reasoning models, kept apart from the answer
  MessageStatus status = MessageStatus::complete;
  std::string error;         // why, when status == error
  std::string model_id;      // model folder name or id that produced an assistant message
  std::string quantization;  // e.g. "exl2 4.0bpw", "gptq 4bit g128", "bf16"
  std::string sampler_json = "{}";  // JSON object: the sampler settings used
  std::string template_hash;        // hash of the rendered chat-template prompt
  GenerationMetrics metrics;
  TimestampMs created_at = 0;
  TimestampMs updated_at = 0;
};

struct Conversation {
  ConversationId id = 0;
  std::string title;
  TimestampMs created_at = 0;
  TimestampMs updated_at = 0;  // last message added or setting changed
  bool pinned = false;
  std::string folder;  // "" = no folder
  std::string system_prompt;
  std::string model_ref;             // the model the conversation was last used with
  std::string settings_json = "{}";  // JSON object: generation settings of the conversation
  std::optional<TimestampMs> trashed_at;        // set while the conversation is in the trash
  std::optional<MessageId> selected_root_id;    // which first message the selected branch starts at
};

// A conversation with every message of every branch, parents before children (ascending id).
struct ConversationTree {
  Conversation conversation;
  std::vector<Message> messages;
};

// The selected branch: from the selected root, following each message's selected child (or its
// newest child when none is recorded). Pointers into `tree`.
std::vector<const Message*> selected_path(const ConversationTree& tree);
// The messages sharing `id`'s parent (itself included), oldest first.
std::vector<const Message*> siblings(const ConversationTree& tree, MessageId id);

// ---- Inputs of write operations ----

struct NewConversation {
  std::string title;
  std::string folder;
  bool pinned = false;
  std::string system_prompt;
  std::string model_ref;
  std::string settings_json = "{}";
};

struct ConversationPatch {  // fields left empty are not changed
  std::optional<std::string> title;
  std::optional<bool> pinned;
  std::optional<std::string> folder;
  std::optional<std::string> system_prompt;
  std::optional<std::string> model_ref;
  std::optional<std::string> settings_json;
};

// Adding a message under a parent that already has children creates a sibling branch (an edit or
// a regeneration); the new message becomes the selected branch. Nothing is overwritten.
struct NewMessage {
  ConversationId conversation_id = 0;
  std::optional<MessageId> parent_id;
  Role role = Role::user;
  std::string content;
  std::string reasoning;
  MessageStatus status = MessageStatus::complete;  // `streaming` for a reply about to be generated
  std::string model_id;
  std::string quantization;
  std::string sampler_json = "{}";
  std::string template_hash;
  GenerationMetrics metrics;
};

struct MessageFinish {
  MessageStatus status = MessageStatus::complete;
  std::string error;
  GenerationMetrics metrics;  // fields present here replace the stored ones
};

// A model folder the library knows, with what was detected about it.
struct ModelRecord {
  ModelId id = 0;
  std::string path;  // unique
  std::string name;
  std::string format;        // "hf", "exl2", "gptq", ...
  std::string architecture;  // config.json architectures[0]
  std::string quantization;
  std::optional<double> bits_per_weight;
  std::optional<std::int64_t> parameter_count;
  std::optional<std::int64_t> context_length;
  std::optional<std::int64_t> size_bytes;
  std::string info_json = "{}";  // anything else detected, as a JSON object
  TimestampMs added_at = 0;
  std::optional<TimestampMs> last_used_at;
};

// ---- Queries ----

enum class ListFilter : std::uint8_t { active, trashed, all };

// Position after the last item of a page; pass it back to get the next page.
struct ListCursor {
  bool pinned = false;
  TimestampMs updated_at = 0;
  ConversationId id = 0;
};

struct ListQuery {
  ListFilter filter = ListFilter::active;
  std::size_t limit = 50;
  std::optional<ListCursor> after;
  std::optional<std::string> folder;  // only this folder
};

struct ConversationListItem {
  Conversation conversation;
  std::int64_t message_count = 0;
};

// Pinned first, then most recently updated first.
struct ConversationPage {
  std::vector<ConversationListItem> items;
  std::optional<ListCursor> next;  // absent on the last page
};

// Text with the byte ranges [first, second) of the words that matched a search.
struct HighlightedText {
  std::string text;
  std::vector<std::pair<std::size_t, std::size_t>> highlights;
};

struct SearchHit {
  ConversationId conversation_id = 0;
  std::optional<MessageId> message_id;  // absent when the title matched
  std::string conversation_title;
  Role role = Role::user;
  TimestampMs created_at = 0;
  HighlightedText snippet;
};

// recent: newest messages first (fast for any word). relevance: bm25, among the newest 1,000
// matches of the query (all matches for rarer words).
enum class SearchOrder : std::uint8_t { recent, relevance };

// The query: words (all must match), "quoted phrases", word* for a prefix (opt-in: a short
// prefix of common words is slow). Titles that match come first, at most a quarter of `limit`.
struct SearchOptions {
  std::size_t limit = 20;
  SearchOrder order = SearchOrder::recent;
  bool include_trashed = false;
};

// ---- Export and import ----

enum class ExportFormat : std::uint8_t { markdown, json, html };
std::optional<ExportFormat> parse_export_format(std::string_view name);  // md|markdown|json|html

enum class ImportFormat : std::uint8_t { detect, nibble_json, tgwui_json };

// Writes `trees` in `format`. Markdown and HTML show each conversation's selected branch and note
// the other versions of a message; JSON (our versioned format, described in engine/history/export_json.cpp) keeps
// every branch and all metadata. HTML is one self-contained file (inline CSS, no scripts, no
// external resources, all text escaped).
Status write_export(const std::vector<ConversationTree>& trees, ExportFormat format, std::ostream& out);

// Parses an import file. `source_name` (usually the file name) titles conversations that carry
// no title and names the file in errors. Message ids in the result are local to the file.
// Messages saved while streaming come back as `interrupted`.
Result<std::vector<ConversationTree>> parse_import(std::string_view text, ImportFormat format,
                                                   const std::string& source_name);

// ---- The store ----

struct HistoryOptions {
  bool create_if_missing = true;     // create the file and its folder when absent
  bool recover_interrupted = true;   // on open, mark `streaming` messages `interrupted` (the
                                     // process that streams; read-only tools pass false)
  bool purge_expired_trash = true;   // on open, purge conversations trashed longer than the setting
  bool durable_commits = true;       // fsync every commit (synchronous=FULL); false: NORMAL
  std::chrono::milliseconds flush_interval{250};  // how long streamed text may wait in memory
  std::chrono::milliseconds busy_timeout{5000};   // waiting for another process's lock
  std::string vfs;                                // SQLite VFS name; "" = the default
  // Errors of writes nobody waits for (streamed deltas). Runs on the writer thread.
  std::function<void(const Error&)> on_background_error;
};

struct OpenReport {
  bool created = false;         // the file did not exist before
  int found_version = 0;        // schema version in the file (0 = empty)
  int schema_version = 0;       // version after opening
  std::string backup_path;      // copy made before migrating ("" = no migration)
  std::int64_t recovered_messages = 0;     // streaming -> interrupted
  std::int64_t purged_conversations = 0;   // expired trash removed
  bool read_only = false;
  std::string read_only_reason;
};

// Threads: reads are synchronous and safe from any thread (each borrows its own read-only
// connection; WAL means they never wait for the writer). Writes are queued to one writer thread
// that commits them in batched transactions, each operation atomic on its own; they return a
// future and optionally take `done`, which runs on the writer thread after the batch commits
// (or fails) and before the future is ready. `done` must be quick and must not wait on this
// store's futures. A write is visible to reads once its future is ready.
class HistoryStore {
 public:
  template <class T>
  using Done = std::function<void(const Result<T>&)>;

  // Opens or creates the store at `path`. Errors name the file: io (cannot open or create),
  // format (not a database, corrupted), busy (locked by another process past busy_timeout).
  // A file from a newer Nibble, or one that cannot be written, opens read-only: every write
  // then fails with read_only and OpenReport::read_only_reason says why. The user's file is
  // never deleted or replaced; before a migration a backup copy is written beside it.
  static Result<std::unique_ptr<HistoryStore>> open(const std::string& path, HistoryOptions options = {});

  ~HistoryStore();  // close()
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  const std::string& path() const;
  const OpenReport& open_report() const;
  bool read_only() const;

  // ---- Reads (synchronous, any thread) ----
  Result<Conversation> conversation(ConversationId id) const;
  Result<ConversationPage> list(const ListQuery& query = {}) const;
  Result<ConversationTree> tree(ConversationId id) const;
  Result<Message> message(MessageId id) const;
  Result<std::vector<SearchHit>> search(std::string_view query, const SearchOptions& options = {}) const;
  Result<std::vector<ModelRecord>> models() const;
  Result<std::vector<ConversationId>> conversation_ids(ListFilter filter = ListFilter::active) const;
  Result<int> trash_retention_days() const;
  // Streams an export of `ids` (all conversations of `filter` when empty) one at a time.
  Status export_to(std::ostream& out, ExportFormat format, const std::vector<ConversationId>& ids = {},
                   ListFilter filter = ListFilter::active) const;
  // PRAGMA integrity_check plus the full-text indexes' own check; format error on damage.
  Status check_integrity() const;

  // ---- Writes (queued to the writer thread) ----
  std::future<Result<ConversationId>> create_conversation(NewConversation c, Done<ConversationId> done = {});
  std::future<Status> update_conversation(ConversationId id, ConversationPatch patch, Done<void> done = {});
  std::future<Status> rename(ConversationId id, std::string title, Done<void> done = {});
  std::future<Status> set_pinned(ConversationId id, bool pinned, Done<void> done = {});
  std::future<Status> move_to_trash(ConversationId id, Done<void> done = {});
  std::future<Status> restore(ConversationId id, Done<void> done = {});
  // Deletes a conversation for good; only from the trash (invalid_argument otherwise).
  std::future<Status> purge(ConversationId id, Done<void> done = {});
  // Purges conversations trashed before `cutoff`; returns how many.
  std::future<Result<std::int64_t>> purge_trash_before(TimestampMs cutoff, Done<std::int64_t> done = {});
  std::future<Status> set_trash_retention_days(int days, Done<void> done = {});

  std::future<Result<MessageId>> add_message(NewMessage m, Done<MessageId> done = {});
  // Makes the branch through `id` the selected one, from the root down to `id`.
  std::future<Status> select_branch(MessageId id, Done<void> done = {});
  // Appends streamed text to a `streaming` message. Cheap: the text waits in memory and the
  // writer commits it within flush_interval (or at flush()/close()); consecutive deltas of the
  // same message are coalesced. Errors go to on_background_error (and to the next flush()).
  void append_delta(MessageId id, std::string_view text, DeltaField field = DeltaField::content);
  // Ends a stream (after every delta appended before this call).
  std::future<Status> finish_message(MessageId id, MessageFinish finish, Done<void> done = {});

  std::future<Result<ModelId>> upsert_model(ModelRecord model, Done<ModelId> done = {});
  std::future<Status> remove_model(ModelId id, Done<void> done = {});

  // Inserts parsed or exported trees as new conversations (new ids), atomically.
  std::future<Result<std::vector<ConversationId>>> import_trees(std::vector<ConversationTree> trees,
                                                                Done<std::vector<ConversationId>> done = {});

  // Ready once everything queued before the call is committed; reports the first error of that
  // batch (for example a full disk while saving streamed text).
  std::future<Status> flush();
  // Commits what is queued, stops the writer and closes every connection. Later calls fail with
  // invalid_argument. Must not race with reads still running on other threads.
  Status close();

 private:
  struct Impl;
  explicit HistoryStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// $XDG_DATA_HOME/nibble/history.db, or ~/.local/share/nibble/history.db.
std::string default_history_path();

}  // namespace nibble::history
