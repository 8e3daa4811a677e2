// Reads our JSON export (format described in export_json.cpp). Strict about types, lenient about
// absence: a missing field takes its default, a field of the wrong type is a format error that
// names where it is ("conversations[2].messages[5].role").
#include <string>

#include "history/clock.h"
#include "history/export.h"
#include "history/import.h"

namespace nibble::history {
namespace {

using json = nlohmann::ordered_json;

class Fields {
 public:
  Fields(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  Error wrong(const char* key, const char* expected) const {
    return make_error(ErrorKind::format, where_, ".", key, ": expected ", expected);
  }

  Result<std::string> text(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return std::string();
    if (!it->is_string()) return wrong(key, "a string");
    return it->get<std::string>();
  }

  Result<std::optional<std::int64_t>> integer(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return std::optional<std::int64_t>();
    if (!it->is_number_integer()) return wrong(key, "an integer");
    return std::optional<std::int64_t>(it->get<std::int64_t>());
  }

  Result<std::optional<double>> number(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return std::optional<double>();
    if (!it->is_number()) return wrong(key, "a number");
    return std::optional<double>(it->get<double>());
  }

  Result<bool> boolean(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return false;
    if (!it->is_boolean()) return wrong(key, "true or false");
    return it->get<bool>();
  }

  // An object (stored as its JSON text) or, as exported when it was not valid JSON, a string.
  Result<std::string> object_text(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return std::string("{}");
    if (it->is_object()) return it->dump();
    if (it->is_string()) return it->get<std::string>();
    return wrong(key, "an object");
  }

  const std::string& where() const { return where_; }

 private:
  const json& obj_;
  std::string where_;
};

Result<Message> parse_message_json(const json& j, const std::string& where) {
  if (!j.is_object()) return make_error(ErrorKind::format, where, ": expected an object");
  Fields f(j, where);
  Message m;
  NIBBLE_ASSIGN_OR_RETURN(auto id, f.integer("id"));
  if (!id) return make_error(ErrorKind::format, where, ".id: missing");
  m.id = *id;
  NIBBLE_ASSIGN_OR_RETURN(m.parent_id, f.integer("parent"));
  NIBBLE_ASSIGN_OR_RETURN(m.selected_child_id, f.integer("selected_child"));
  NIBBLE_ASSIGN_OR_RETURN(auto role, f.text("role"));
  auto parsed_role = parse_role(role);
  if (!parsed_role) return make_error(ErrorKind::format, where, ".role: unknown role '", role, "'");
  m.role = *parsed_role;
  NIBBLE_ASSIGN_OR_RETURN(auto status, f.text("status"));
  auto parsed_status = status.empty() ? std::optional<MessageStatus>(MessageStatus::complete) : parse_status(status);
  if (!parsed_status) return make_error(ErrorKind::format, where, ".status: unknown status '", status, "'");
  m.status = *parsed_status;
  NIBBLE_ASSIGN_OR_RETURN(m.error, f.text("error"));
  NIBBLE_ASSIGN_OR_RETURN(m.content, f.text("content"));
  NIBBLE_ASSIGN_OR_RETURN(m.reasoning, f.text("reasoning"));
  NIBBLE_ASSIGN_OR_RETURN(m.model_id, f.text("model_id"));
  NIBBLE_ASSIGN_OR_RETURN(m.quantization, f.text("quantization"));
  NIBBLE_ASSIGN_OR_RETURN(m.template_hash, f.text("template_hash"));
  NIBBLE_ASSIGN_OR_RETURN(m.sampler_json, f.object_text("sampler"));
  NIBBLE_ASSIGN_OR_RETURN(auto created, f.integer("created_at"));
  NIBBLE_ASSIGN_OR_RETURN(auto updated, f.integer("updated_at"));
  m.created_at = created.value_or(0);
  m.updated_at = updated.value_or(m.created_at);
  if (auto it = j.find("metrics"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return make_error(ErrorKind::format, where, ".metrics: expected an object");
    Fields mf(*it, where + ".metrics");
    NIBBLE_ASSIGN_OR_RETURN(m.metrics.prompt_tokens, mf.integer("prompt_tokens"));
    NIBBLE_ASSIGN_OR_RETURN(m.metrics.completion_tokens, mf.integer("completion_tokens"));
    NIBBLE_ASSIGN_OR_RETURN(m.metrics.time_to_first_token_ms, mf.number("time_to_first_token_ms"));
    NIBBLE_ASSIGN_OR_RETURN(m.metrics.prefill_tokens_per_s, mf.number("prefill_tokens_per_s"));
    NIBBLE_ASSIGN_OR_RETURN(m.metrics.decode_tokens_per_s, mf.number("decode_tokens_per_s"));
  }
  return m;
}

Result<ConversationTree> parse_conversation_json(const json& j, const std::string& where) {
  if (!j.is_object()) return make_error(ErrorKind::format, where, ": expected an object");
  Fields f(j, where);
  ConversationTree tree;
  Conversation& c = tree.conversation;
  NIBBLE_ASSIGN_OR_RETURN(c.title, f.text("title"));
  NIBBLE_ASSIGN_OR_RETURN(c.folder, f.text("folder"));
  NIBBLE_ASSIGN_OR_RETURN(c.system_prompt, f.text("system_prompt"));
  NIBBLE_ASSIGN_OR_RETURN(c.model_ref, f.text("model_ref"));
  NIBBLE_ASSIGN_OR_RETURN(c.pinned, f.boolean("pinned"));
  NIBBLE_ASSIGN_OR_RETURN(c.settings_json, f.object_text("settings"));
  NIBBLE_ASSIGN_OR_RETURN(auto created, f.integer("created_at"));
  NIBBLE_ASSIGN_OR_RETURN(auto updated, f.integer("updated_at"));
  c.created_at = created.value_or(now_ms());
  c.updated_at = updated.value_or(c.created_at);
  NIBBLE_ASSIGN_OR_RETURN(c.trashed_at, f.integer("trashed_at"));
  NIBBLE_ASSIGN_OR_RETURN(c.selected_root_id, f.integer("selected_root"));
  auto it = j.find("messages");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_array()) return make_error(ErrorKind::format, where, ".messages: expected an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      NIBBLE_ASSIGN_OR_RETURN(auto m, parse_message_json((*it)[i], where + ".messages[" + std::to_string(i) + "]"));
      if (m.created_at == 0) m.created_at = c.created_at;
      if (m.updated_at == 0) m.updated_at = m.created_at;
      tree.messages.push_back(std::move(m));
    }
  }
  return tree;
}

}  // namespace

bool looks_like_nibble_json(const json& j) {
  if (!j.is_object()) return false;
  auto it = j.find("format");
  return it != j.end() && it->is_string() && it->get<std::string>() == kJsonFormatName;
}

Result<std::vector<ConversationTree>> read_nibble_json(const json& j, const std::string& source) {
  if (!looks_like_nibble_json(j))
    return make_error(ErrorKind::format, source, ": not a Nibble history export (\"format\" is not \"",
                      kJsonFormatName, "\")");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer())
    return make_error(ErrorKind::format, source, ": the export has no format version");
  if (version->get<std::int64_t>() > kJsonFormatVersion)
    return make_error(ErrorKind::unsupported, source, ": written by a newer Nibble (export format version ",
                      version->get<std::int64_t>(), "; this version reads up to ", kJsonFormatVersion, ")");
  auto list = j.find("conversations");
  if (list == j.end() || !list->is_array())
    return make_error(ErrorKind::format, source, ": \"conversations\" must be an array");
  std::vector<ConversationTree> trees;
  trees.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    NIBBLE_ASSIGN_OR_RETURN(auto tree, parse_conversation_json((*list)[i], source + ": conversations[" + std::to_string(i) + "]"));
    trees.push_back(std::move(tree));
  }
  return trees;
}

}  // namespace nibble::history
