// parse_import(): JSON parsing, format detection and the checks every imported tree goes
// through before the store sees it.
#include "history/import.h"

#include <exception>
#include <unordered_map>
#include <unordered_set>

namespace nibble::history {

Status normalize_tree(ConversationTree& tree, const std::string& where) {
  auto& messages = tree.messages;
  std::unordered_map<MessageId, std::size_t> index;
  index.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (!index.emplace(messages[i].id, i).second)
      return make_error(ErrorKind::format, where, ": message id ", messages[i].id, " appears twice");
  }
  for (const auto& m : messages) {
    if (m.parent_id && !index.count(*m.parent_id))
      return make_error(ErrorKind::format, where, ": message ", m.id, " has a parent (", *m.parent_id,
                        ") that is not in the file");
  }
  // Parents first, otherwise keeping the file's order: emit each message's missing ancestors first.
  std::vector<Message> ordered;
  ordered.reserve(messages.size());
  std::vector<char> emitted(messages.size(), 0);
  std::vector<std::size_t> chain;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    chain.clear();
    std::size_t at = i;
    while (!emitted[at]) {
      chain.push_back(at);
      if (chain.size() > messages.size())
        return make_error(ErrorKind::format, where, ": message ", messages[i].id, " is its own ancestor");
      if (!messages[at].parent_id) break;
      at = index.at(*messages[at].parent_id);
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      if (emitted[*it]) continue;
      emitted[*it] = 1;
      ordered.push_back(messages[*it]);
    }
  }
  // Selection links must point at a child (or a root); anything else falls back to the newest.
  std::unordered_map<MessageId, std::unordered_set<MessageId>> children;
  std::unordered_set<MessageId> roots;
  for (const auto& m : ordered) {
    if (m.parent_id) children[*m.parent_id].insert(m.id);
    else roots.insert(m.id);
  }
  for (auto& m : ordered) {
    if (m.status == MessageStatus::streaming) m.status = MessageStatus::interrupted;
    if (m.selected_child_id && !children[m.id].count(*m.selected_child_id)) m.selected_child_id.reset();
  }
  if (tree.conversation.selected_root_id && !roots.count(*tree.conversation.selected_root_id))
    tree.conversation.selected_root_id.reset();
  messages = std::move(ordered);
  return {};
}

Result<std::vector<ConversationTree>> parse_import(std::string_view text, ImportFormat format,
                                                   const std::string& source_name) {
  try {
    auto j = nlohmann::ordered_json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded()) return make_error(ErrorKind::format, source_name, ": not valid JSON");
    if (format == ImportFormat::detect) {
      if (looks_like_nibble_json(j)) format = ImportFormat::nibble_json;
      else if (looks_like_tgwui_json(j)) format = ImportFormat::tgwui_json;
      else
        return make_error(ErrorKind::format, source_name,
                          ": neither a Nibble history export nor a text-generation-webui chat file");
    }
    auto trees = format == ImportFormat::nibble_json ? read_nibble_json(j, source_name)
                                                     : read_tgwui_json(j, source_name);
    if (!trees.ok()) return trees;
    for (std::size_t i = 0; i < trees->size(); ++i)
      NIBBLE_TRY(normalize_tree((*trees)[i], source_name + ": conversation " + std::to_string(i + 1)));
    return trees;
  } catch (const std::exception& e) {
    return make_error(ErrorKind::format, source_name, ": ", e.what());
  }
}

}  // namespace nibble::history
