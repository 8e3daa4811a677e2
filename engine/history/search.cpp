// Search: title matches first (at most a quarter of the limit), then message matches, newest
// first or by relevance (BM25 over the newest kRelevanceWindow matches, with document
// frequencies from the newest kRankSampleRows messages: rank.h). Trashed conversations
// are left out unless asked for.
#include "history/search.h"

#include "history/rank.h"

#include <algorithm>

namespace nibble::history {
namespace {

constexpr char kMarkOpen = '\x02';
constexpr char kMarkClose = '\x03';

bool has_word_char(std::string_view word) {
  for (unsigned char ch : word)
    if (ch >= 0x80 || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) return true;
  return false;
}

void append_phrase(std::string& out, std::string_view text) {
  if (!out.empty()) out += ' ';
  out += '"';
  for (char ch : text) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
}

bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char ch : s)
    if ((ch & 0xc0) != 0x80) ++n;
  return n;
}

// ?4: the relevance window. The subquery finds the rowid of the window's oldest match (FTS5
// walks the newest matches only), and the rowid bound keeps bm25 to the window.
#define NIBBLE_TITLE_SEARCH                                                    \
  "SELECT c.id, highlight(conversation_fts, 0, char(2), char(3)), c.updated_at " \
  "FROM conversation_fts JOIN conversations c ON c.id = conversation_fts.rowid " \
  "WHERE conversation_fts MATCH ?1 AND (?2 OR c.trashed_at IS NULL) "
constexpr const char* kTitleSearchByRank =
    NIBBLE_TITLE_SEARCH
    "AND conversation_fts.rowid >= coalesce((SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH ?1 "
    "ORDER BY rowid DESC LIMIT 1 OFFSET ?4 - 1), 0) ORDER BY rank LIMIT ?3";
constexpr const char* kTitleSearchRecent = NIBBLE_TITLE_SEARCH "ORDER BY conversation_fts.rowid DESC LIMIT ?3";

#define NIBBLE_MESSAGE_SEARCH                                                                              \
  "SELECT m.id, m.conversation_id, c.title, m.role, m.created_at, "                                        \
  "snippet(message_fts, 0, char(2), char(3), '…', 16) "                                                   \
  "FROM message_fts JOIN messages m ON m.id = message_fts.rowid JOIN conversations c ON c.id = m.conversation_id " \
  "WHERE message_fts MATCH ?1 AND (?2 OR c.trashed_at IS NULL) "
// ?5: the phrase statistics for nibble_bm25 (rank.h), NULL for a one-phrase query.
constexpr const char* kMessageSearchByRank =
    NIBBLE_MESSAGE_SEARCH
    "AND message_fts.rowid >= coalesce((SELECT rowid FROM message_fts WHERE message_fts MATCH ?1 "
    "ORDER BY rowid DESC LIMIT 1 OFFSET ?4 - 1), 0) ORDER BY nibble_bm25(message_fts, ?5) LIMIT ?3";

// Document frequencies for the ranking are counted over the newest kRankSampleRows indexed
// messages: each count reads at most that slice of a word's doclist.
constexpr const char* kSampleStart = "SELECT coalesce(max(id), 0) - ?1 FROM message_fts_docsize";
constexpr const char* kSampleRows = "SELECT count(*) FROM message_fts_docsize WHERE id > ?1";
constexpr const char* kSamplePhraseRows =
    "SELECT count(*) FROM message_fts WHERE message_fts MATCH ?1 AND rowid > ?2";

Result<std::int64_t> count_query(sql::Connection& db, const char* sql, auto&&... args) {
  NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(sql));
  int index = 0;
  (s.bind(++index, args), ...);
  NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
  return row ? s.int64(0) : 0;
}

// NULL (no blob) for one phrase: its weight does not change the order.
Result<std::vector<std::uint8_t>> rank_stats(sql::Connection& db, const std::vector<std::string>& phrases) {
  std::vector<std::uint8_t> none;
  if (phrases.size() < 2) return none;
  NIBBLE_ASSIGN_OR_RETURN(std::int64_t start, count_query(db, kSampleStart, kRankSampleRows));
  NIBBLE_ASSIGN_OR_RETURN(std::int64_t rows, count_query(db, kSampleRows, start));
  std::vector<std::int64_t> with_phrase;
  for (const auto& p : phrases) {
    NIBBLE_ASSIGN_OR_RETURN(std::int64_t n, count_query(db, kSamplePhraseRows, p, start));
    with_phrase.push_back(n);
  }
  return encode_rank_stats(rows, with_phrase);
}
constexpr const char* kMessageSearchRecent = NIBBLE_MESSAGE_SEARCH "ORDER BY message_fts.rowid DESC LIMIT ?3";

}  // namespace

std::vector<std::string> match_phrases(std::string_view query) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < query.size()) {
    if (is_space(query[i])) {
      ++i;
      continue;
    }
    if (query[i] == '"') {
      std::size_t end = query.find('"', i + 1);
      if (end == std::string_view::npos) end = query.size();
      std::string_view phrase = query.substr(i + 1, end - i - 1);
      if (has_word_char(phrase)) {
        out.emplace_back();
        append_phrase(out.back(), phrase);
      }
      i = end + 1;
      continue;
    }
    std::size_t end = i;
    while (end < query.size() && !is_space(query[end]) && query[end] != '"') ++end;
    std::string_view word = query.substr(i, end - i);
    i = end;
    bool prefix = false;
    while (!word.empty() && word.back() == '*') {
      word.remove_suffix(1);
      prefix = true;
    }
    if (!has_word_char(word)) continue;
    out.emplace_back();
    append_phrase(out.back(), word);
    if (prefix && utf8_length(word) >= 2) out.back() += '*';
  }
  return out;
}

namespace {

std::string join_phrases(const std::vector<std::string>& phrases) {
  std::string out;
  for (const auto& phrase : phrases) {
    if (!out.empty()) out += ' ';
    out += phrase;
  }
  return out;
}

}  // namespace

std::string build_match_expression(std::string_view query) { return join_phrases(match_phrases(query)); }

HighlightedText parse_highlights(std::string_view marked) {
  HighlightedText out;
  out.text.reserve(marked.size());
  std::size_t open_at = 0;
  bool open = false;
  for (char ch : marked) {
    if (ch == kMarkOpen) {
      open_at = out.text.size();
      open = true;
    } else if (ch == kMarkClose) {
      if (open && out.text.size() > open_at) out.highlights.emplace_back(open_at, out.text.size());
      open = false;
    } else {
      out.text += ch;
    }
  }
  return out;
}

Result<std::vector<SearchHit>> run_search(sql::Connection& db, std::string_view query, const SearchOptions& options) {
  std::vector<SearchHit> hits;
  const std::vector<std::string> phrases = match_phrases(query);
  const std::string expr = join_phrases(phrases);
  if (expr.empty() || options.limit == 0) return hits;

  const auto title_limit = static_cast<std::int64_t>(std::max<std::size_t>(1, options.limit / 4));
  {
    const bool by_rank = options.order == SearchOrder::relevance;
    NIBBLE_ASSIGN_OR_RETURN(auto s, db.cached(by_rank ? kTitleSearchByRank : kTitleSearchRecent));
    s.bind(1, expr).bind(2, options.include_trashed).bind(3, title_limit);
    if (by_rank) s.bind(4, kRelevanceWindow);
    for (;;) {
      NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
      if (!row) break;
      SearchHit hit;
      hit.conversation_id = s.int64(0);
      hit.snippet = parse_highlights(s.text(1));
      hit.conversation_title = hit.snippet.text;
      hit.created_at = s.int64(2);
      hits.push_back(std::move(hit));
    }
  }
  const auto message_limit = static_cast<std::int64_t>(options.limit - hits.size());
  NIBBLE_ASSIGN_OR_RETURN(
      auto s, db.cached(options.order == SearchOrder::recent ? kMessageSearchRecent : kMessageSearchByRank));
  s.bind(1, expr).bind(2, options.include_trashed).bind(3, message_limit);
  if (options.order == SearchOrder::relevance) {
    s.bind(4, kRelevanceWindow);
    NIBBLE_ASSIGN_OR_RETURN(auto stats, rank_stats(db, phrases));
    if (stats.empty()) s.bind_null(5);
    else s.bind_blob(5, stats.data(), stats.size());
  }
  for (;;) {
    NIBBLE_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    SearchHit hit;
    hit.message_id = s.int64(0);
    hit.conversation_id = s.int64(1);
    hit.conversation_title = s.text(2);
    hit.role = parse_role(s.text(3)).value_or(Role::user);
    hit.created_at = s.int64(4);
    hit.snippet = parse_highlights(s.text(5));
    hits.push_back(std::move(hit));
  }
  return hits;
}

}  // namespace nibble::history
