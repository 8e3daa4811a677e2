// Full-text search over message text and conversation titles (FTS5), with snippets whose matched
// words are returned as byte ranges. Turns what a person types into a safe FTS5 expression (it is
// bound as a parameter, never spliced into SQL). Called by HistoryStore::search on a read connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "history/sqlite_db.h"
#include "nibble/history.h"

namespace nibble::history {

// Words are ANDed, "quoted text" is a phrase, a word ending in * matches as a prefix (at least
// two characters before the *). FTS5 operators typed by the user are treated as words. Empty when
// the query has no words. Prefixes are opt-in (a word that ends in *); 2- and 3-character
// prefixes read the index's prefix doclists (schema 3), longer ones merge the doclists of the
// few words they start.
std::string build_match_expression(std::string_view query);
// The same expression as its phrases, in query order.
std::vector<std::string> match_phrases(std::string_view query);

// Splits text carrying \x02 ... \x03 markers (FTS5 snippet/highlight output) into text + ranges.
HighlightedText parse_highlights(std::string_view marked);

// By relevance, BM25 ranks the newest kRelevanceWindow matches (all of them for rarer words), so
// that a word found in most messages costs the same as a rare one; newest first needs no bound.
// The phrases' document frequencies (their relative weights) are counted over the newest
// kRankSampleRows messages, so their cost is bounded too; up to that many messages the scores
// are exactly SQLite's bm25().
inline constexpr int kRelevanceWindow = 1000;
inline constexpr std::int64_t kRankSampleRows = 20000;

Result<std::vector<SearchHit>> run_search(sql::Connection& db, std::string_view query, const SearchOptions& options);

}  // namespace nibble::history
