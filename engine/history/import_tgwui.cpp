// Reads text-generation-webui chat files: {"internal": [[user, bot(, tool)], ...], "visible": [...],
// "metadata": {"user_3": {...}, "assistant_3": {"timestamp", "model_name", "versions":
// [{"content", "visible_content", "timestamp"}], "current_version_index"}}}, and the older
// {"data": ..., "data_visible": ...}. "internal" holds the raw text ("visible" is HTML-escaped and
// only used when "internal" is missing). A row whose user text is "<|BEGIN-VISIBLE-CHAT|>" is the
// character's greeting. Versions of a message become sibling branches, the current one selected.
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "history/clock.h"
#include "history/import.h"

namespace nibble::history {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kGreetingMarker = "<|BEGIN-VISIBLE-CHAT|>";

// "Jun 05, 2025 14:03" (the webui's local time; read as UTC since the zone is not recorded).
std::optional<TimestampMs> parse_webui_time(const std::string& text) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char month[4] = {};
  int day = 0, year = 0, hour = 0, minute = 0;
  if (std::sscanf(text.c_str(), "%3s %d, %d %d:%d", month, &day, &year, &hour, &minute) != 5) return std::nullopt;
  std::tm tm{};
  tm.tm_mon = -1;
  for (int i = 0; i < 12; ++i)
    if (std::string_view(month) == kMonths[i]) tm.tm_mon = i;
  if (tm.tm_mon < 0 || day < 1 || day > 31 || year < 1970 || hour > 23 || minute > 59) return std::nullopt;
  tm.tm_mday = day;
  tm.tm_year = year - 1900;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  return static_cast<TimestampMs>(timegm(&tm)) * 1000;
}

std::string html_unescape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    std::size_t semi = s.find(';', i);
    if (semi == std::string::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    std::string entity = s.substr(i + 1, semi - i - 1);
    if (entity == "amp") out += '&';
    else if (entity == "lt") out += '<';
    else if (entity == "gt") out += '>';
    else if (entity == "quot") out += '"';
    else if (entity == "#39" || entity == "#x27" || entity == "apos") out += '\'';
    else {
      out += s[i];
      continue;
    }
    i = semi;
  }
  return out;
}

struct Version {
  std::string content;
  std::optional<TimestampMs> time;
};

struct Turn {
  std::vector<Version> versions;
  std::size_t current = 0;
  std::string model;
};

class Builder {
 public:
  explicit Builder(TimestampMs fallback_time) : fallback_(fallback_time) {}

  // Adds a message (and its other versions as siblings) under the current end of the chain.
  void add(Role role, const Turn& turn) {
    std::optional<MessageId> parent = tail_;
    MessageId chosen = 0;
    for (std::size_t v = 0; v < turn.versions.size(); ++v) {
      Message m;
      m.id = ++next_id_;
      m.parent_id = parent;
      m.role = role;
      m.content = turn.versions[v].content;
      m.model_id = role == Role::assistant ? turn.model : std::string();
      m.created_at = turn.versions[v].time.value_or(last_time_);
      m.updated_at = m.created_at;
      last_time_ = m.created_at;
      first_time_ = std::min(first_time_, m.created_at);
      if (v == turn.current) chosen = m.id;
      tree.messages.push_back(std::move(m));
    }
    if (parent) {
      for (auto& m : tree.messages)
        if (m.id == *parent) m.selected_child_id = chosen;
    } else {
      tree.conversation.selected_root_id = chosen;
    }
    tail_ = chosen;
  }

  ConversationTree tree;
  TimestampMs fallback_;
  TimestampMs last_time_ = fallback_;
  TimestampMs first_time_ = fallback_;

 private:
  std::optional<MessageId> tail_;
  MessageId next_id_ = 0;
};

const json* find_array(const json& j, const char* a, const char* b) {
  for (const char* key : {a, b}) {
    auto it = j.find(key);
    if (it != j.end() && it->is_array()) return &*it;
  }
  return nullptr;
}

// The versions of one cell: metadata versions when present, else the row's own text.
Turn read_turn(const json& metadata, const std::string& key, const std::string& row_text, bool escaped) {
  Turn turn;
  std::optional<TimestampMs> time;
  auto meta = metadata.find(key);
  if (meta != metadata.end() && meta->is_object()) {
    if (auto t = meta->find("timestamp"); t != meta->end() && t->is_string()) time = parse_webui_time(*t);
    if (auto name = meta->find("model_name"); name != meta->end() && name->is_string()) turn.model = *name;
    auto versions = meta->find("versions");
    if (versions != meta->end() && versions->is_array() && !versions->empty()) {
      for (const auto& v : *versions) {
        if (!v.is_object()) continue;
        Version version;
        if (auto c = v.find("content"); c != v.end() && c->is_string()) version.content = *c;
        else if (auto vc = v.find("visible_content"); vc != v.end() && vc->is_string())
          version.content = html_unescape(*vc);
        if (auto t = v.find("timestamp"); t != v.end() && t->is_string()) version.time = parse_webui_time(*t);
        turn.versions.push_back(std::move(version));
      }
      auto index = meta->find("current_version_index");
      turn.current = turn.versions.size() - 1;
      if (index != meta->end() && index->is_number_unsigned() && index->get<std::size_t>() < turn.versions.size())
        turn.current = index->get<std::size_t>();
      if (!turn.versions.empty()) return turn;
    }
  }
  turn.versions.push_back(Version{escaped ? html_unescape(row_text) : row_text, time});
  return turn;
}

}  // namespace

bool looks_like_tgwui_json(const json& j) {
  if (!j.is_object()) return false;
  return find_array(j, "internal", "data") != nullptr || find_array(j, "visible", "data_visible") != nullptr;
}

Result<std::vector<ConversationTree>> read_tgwui_json(const json& j, const std::string& source) {
  if (!looks_like_tgwui_json(j))
    return make_error(ErrorKind::format, source, ": not a text-generation-webui chat file (no \"internal\" list)");
  const json* rows = find_array(j, "internal", "data");
  bool escaped = false;
  if (rows == nullptr) {
    rows = find_array(j, "visible", "data_visible");
    escaped = true;
  }
  static const json kEmpty = json::object();
  const json* metadata = &kEmpty;
  if (auto it = j.find("metadata"); it != j.end() && it->is_object()) metadata = &*it;

  Builder b(now_ms());
  b.tree.conversation.title = std::filesystem::path(source).stem().string();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const json& row = (*rows)[i];
    const std::string where = source + ": internal[" + std::to_string(i) + "]";
    if (!row.is_array() || row.size() < 2) return make_error(ErrorKind::format, where, ": expected [user, reply]");
    for (const auto& cell : row)
      if (!cell.is_string()) return make_error(ErrorKind::format, where, ": expected strings");
    const std::string user = row[0].get<std::string>();
    const std::string reply = row[1].get<std::string>();
    const std::string index = std::to_string(i);
    if (!user.empty() && user != kGreetingMarker)
      b.add(Role::user, read_turn(*metadata, "user_" + index, user, escaped));
    Turn answer = read_turn(*metadata, "assistant_" + index, reply, escaped);
    if (answer.versions.size() > 1 || !answer.versions[0].content.empty()) b.add(Role::assistant, answer);
    if (row.size() > 2 && !row[2].get<std::string>().empty())
      b.add(Role::tool, read_turn(kEmpty, "", row[2].get<std::string>(), escaped));
  }
  b.tree.conversation.created_at = b.first_time_;
  b.tree.conversation.updated_at = b.last_time_;
  std::vector<ConversationTree> out;
  out.push_back(std::move(b.tree));
  return out;
}

}  // namespace nibble::history
