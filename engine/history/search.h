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

// Words are ANDed, "quoted text" is a phrase, the last bare word of 3+ characters also matches
// as a prefix (search as you type). FTS5 operators typed by the user are treated as words.
// Empty when the query has no words.
std::string build_match_expression(std::string_view query);

// Splits text carrying \x02 ... \x03 markers (FTS5 snippet/highlight output) into text + ranges.
HighlightedText parse_highlights(std::string_view marked);

Result<std::vector<SearchHit>> run_search(sql::Connection& db, std::string_view query, const SearchOptions& options);

}  // namespace nibble::history
