// JSON export: our own format, complete (every branch, all metadata) so that importing it gives
// the same conversations back. import_json.cpp reads it. The format, version 1:
//
//   { "format": "nibble.history", "version": 1, "exported_at": "<ISO 8601 UTC>",
//     "conversations": [ {
//       "title", "folder", "system_prompt", "model_ref": string, "pinned": bool,
//       "settings": object, "created_at", "updated_at": Unix ms, "trashed_at": Unix ms | null,
//       "selected_root": message id | null,
//       "messages": [ {                      parents before children
//         "id": integer (unique in the file), "parent", "selected_child": id | null,
//         "role": "system" | "user" | "assistant" | "tool",
//         "status": "complete" | "streaming" | "interrupted" | "error", "error": string,
//         "content", "reasoning", "model_id", "quantization", "template_hash": string,
//         "sampler": object, "created_at", "updated_at": Unix ms,
//         "metrics": { "prompt_tokens", "completion_tokens": integer | null,
//                      "time_to_first_token_ms", "prefill_tokens_per_s",
//                      "decode_tokens_per_s": number | null } } ] } ] }
//
// A later version may add fields; readers ignore fields they do not know.
#include <nlohmann/json.hpp>

#include <ostream>

#include "history/clock.h"
#include "history/export.h"

namespace nibble::history {
namespace {

// ordered_json keeps the fields in the order written here, which reads better than alphabetical.
using json = nlohmann::ordered_json;

json object_or_text(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return text;
  return j;
}

template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json message_json(const Message& m) {
  json metrics = {
      {"prompt_tokens", opt(m.metrics.prompt_tokens)},
      {"completion_tokens", opt(m.metrics.completion_tokens)},
      {"time_to_first_token_ms", opt(m.metrics.time_to_first_token_ms)},
      {"prefill_tokens_per_s", opt(m.metrics.prefill_tokens_per_s)},
      {"decode_tokens_per_s", opt(m.metrics.decode_tokens_per_s)},
  };
  return json{
      {"id", m.id},
      {"parent", opt(m.parent_id)},
      {"selected_child", opt(m.selected_child_id)},
      {"role", role_name(m.role)},
      {"status", status_name(m.status)},
      {"error", m.error},
      {"content", m.content},
      {"reasoning", m.reasoning},
      {"model_id", m.model_id},
      {"quantization", m.quantization},
      {"template_hash", m.template_hash},
      {"sampler", object_or_text(m.sampler_json)},
      {"metrics", std::move(metrics)},
      {"created_at", m.created_at},
      {"updated_at", m.updated_at},
  };
}

json conversation_json(const ConversationTree& tree) {
  const Conversation& c = tree.conversation;
  json messages = json::array();
  for (const Message& m : tree.messages) messages.push_back(message_json(m));
  return json{
      {"title", c.title},
      {"folder", c.folder},
      {"system_prompt", c.system_prompt},
      {"model_ref", c.model_ref},
      {"pinned", c.pinned},
      {"settings", object_or_text(c.settings_json)},
      {"created_at", c.created_at},
      {"updated_at", c.updated_at},
      {"trashed_at", opt(c.trashed_at)},
      {"selected_root", opt(c.selected_root_id)},
      {"messages", std::move(messages)},
  };
}

class JsonWriter final : public ExportWriter {
 public:
  void begin(std::ostream& out) override {
    out << "{\n  \"format\": " << json(kJsonFormatName).dump() << ",\n  \"version\": " << kJsonFormatVersion
        << ",\n  \"exported_at\": " << json(format_iso8601(now_ms())).dump() << ",\n  \"conversations\": [";
  }

  void add(const ConversationTree& tree, std::ostream& out) override {
    out << (count_++ > 0 ? ",\n" : "\n");
    // Invalid UTF-8 (only possible from damaged input) becomes U+FFFD instead of failing the export.
    const std::string text = conversation_json(tree).dump(2, ' ', false, json::error_handler_t::replace);
    out << "    ";
    for (char ch : text) {
      out << ch;
      if (ch == '\n') out << "    ";
    }
  }

  void end(std::ostream& out) override { out << (count_ > 0 ? "\n  ]\n}\n" : "]\n}\n"); }

 private:
  int count_ = 0;
};

}  // namespace

std::unique_ptr<ExportWriter> make_json_writer() { return std::make_unique<JsonWriter>(); }

}  // namespace nibble::history
