// Import readers: our JSON export and text-generation-webui chat files, both producing
// ConversationTrees whose message ids are local to the file; parse_import() detects the format
// and checks each tree (unique ids, parents present, no cycles) and orders parents first.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "nibble/history.h"

namespace nibble::history {

bool looks_like_nibble_json(const nlohmann::ordered_json& j);
bool looks_like_tgwui_json(const nlohmann::ordered_json& j);

Result<std::vector<ConversationTree>> read_nibble_json(const nlohmann::ordered_json& j, const std::string& source);
Result<std::vector<ConversationTree>> read_tgwui_json(const nlohmann::ordered_json& j, const std::string& source);

// Checks ids and links of `tree` and reorders its messages parents-first; `where` names it in errors.
Status normalize_tree(ConversationTree& tree, const std::string& where);

}  // namespace nibble::history
