// Full-text search over message text and conversation titles (FTS5), with snippets whose matched
// words are returned as byte ranges. Turns what a person types into a safe FTS5 expression (it is
// bound as a parameter, never spliced into SQL). Called by HistoryStore::search on a read connection.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "history/sqlite_db.h"
#include "nibble/history.h"

namespace nibble::history {

// Words are ANDed, "quoted text" is a phrase, a word ending in * matches as a prefix (at least
// two characters before the *). FTS5 operators typed by the user are treated as words. Empty when
// the query has no words. Prefixes are opt-in: a short prefix of a common word merges the
// doclists of every word it starts, which is too slow to run on each keystroke.
std::string build_match_expression(std::string_view query);

// Splits text carrying \x02 ... \x03 markers (FTS5 snippet/highlight output) into text + ranges.
HighlightedText parse_highlights(std::string_view marked);

// By relevance, bm25 ranks the newest kRelevanceWindow matches (all of them for rarer words), so
// that a word found in most messages costs the same as a rare one (bm25 costs ~8 us a row on
// the development machine, phrases more); newest first needs no bound.
inline constexpr int kRelevanceWindow = 1000;

Result<std::vector<SearchHit>> run_search(sql::Connection& db, std::string_view query, const SearchOptions& options);

}  // namespace nibble::history
