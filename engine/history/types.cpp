// Names of roles, statuses and export formats; branch navigation over a ConversationTree; the
// default database path. Pure functions over the public types, used by the store, the
// exporters, the CLI and the app.
#include <cstdlib>
#include <unordered_map>

#include "nibble/history.h"

namespace nibble::history {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::system: return "system";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "user";
}

std::optional<Role> parse_role(std::string_view name) {
  for (Role r : {Role::system, Role::user, Role::assistant, Role::tool})
    if (role_name(r) == name) return r;
  return std::nullopt;
}

std::string_view status_name(MessageStatus status) {
  switch (status) {
    case MessageStatus::complete: return "complete";
    case MessageStatus::streaming: return "streaming";
    case MessageStatus::interrupted: return "interrupted";
    case MessageStatus::error: return "error";
  }
  return "complete";
}

std::optional<MessageStatus> parse_status(std::string_view name) {
  for (MessageStatus s : {MessageStatus::complete, MessageStatus::streaming, MessageStatus::interrupted,
                          MessageStatus::error})
    if (status_name(s) == name) return s;
  return std::nullopt;
}

std::optional<ExportFormat> parse_export_format(std::string_view name) {
  if (name == "md" || name == "markdown") return ExportFormat::markdown;
  if (name == "json") return ExportFormat::json;
  if (name == "html") return ExportFormat::html;
  return std::nullopt;
}

std::vector<const Message*> selected_path(const ConversationTree& tree) {
  std::unordered_map<MessageId, std::vector<const Message*>> children;
  std::vector<const Message*> roots;
  for (const auto& m : tree.messages) {
    if (m.parent_id) children[*m.parent_id].push_back(&m);
    else roots.push_back(&m);
  }
  auto pick = [](const std::vector<const Message*>& options, std::optional<MessageId> wanted) -> const Message* {
    if (options.empty()) return nullptr;
    const Message* newest = options.front();
    for (const Message* m : options) {
      if (wanted && m->id == *wanted) return m;
      if (m->id > newest->id) newest = m;
    }
    return newest;
  };
  std::vector<const Message*> path;
  const Message* current = pick(roots, tree.conversation.selected_root_id);
  while (current != nullptr && path.size() <= tree.messages.size()) {
    path.push_back(current);
    auto it = children.find(current->id);
    if (it == children.end()) break;
    current = pick(it->second, current->selected_child_id);
  }
  return path;
}

std::vector<const Message*> siblings(const ConversationTree& tree, MessageId id) {
  std::optional<MessageId> parent;
  bool found = false;
  for (const auto& m : tree.messages) {
    if (m.id == id) {
      parent = m.parent_id;
      found = true;
      break;
    }
  }
  std::vector<const Message*> out;
  if (!found) return out;
  for (const auto& m : tree.messages)
    if (m.parent_id == parent) out.push_back(&m);
  return out;
}

std::string default_history_path() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  std::string base;
  if (xdg != nullptr && xdg[0] == '/') {
    base = xdg;
  } else {
    const char* home = std::getenv("HOME");
    base = std::string(home != nullptr && home[0] != '\0' ? home : ".") + "/.local/share";
  }
  return base + "/nibble/history.db";
}

}  // namespace nibble::history
