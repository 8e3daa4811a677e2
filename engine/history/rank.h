// Relevance ranking for message search: Okapi BM25 as an FTS5 auxiliary function whose document
// frequencies are supplied by the caller. SQLite's own bm25() counts, for every phrase of the
// query, the rows that contain it over the whole index on each query: for a phrase of two words
// found in nearly every message that walks a million-entry doclist with position checks (~340 ms
// on the benchmark database). Here the counts come from the newest rows (see run_search), which
// bounds the cost; over an index no larger than that sample the scores equal SQLite's bm25.
#pragma once

#include <cstdint>
#include <vector>

#include "history/sqlite_db.h"

namespace nibble::history {

// SQL: nibble_bm25(message_fts, stats) where `stats` is a blob from encode_rank_stats (or NULL:
// every phrase weighs the same, which orders a one-phrase query exactly as bm25 does). Lower is
// more relevant, like bm25(). Registered on each read connection.
inline constexpr const char* kRankFunction = "nibble_bm25";
Status register_rank_function(sql::Connection& db);

// rows: how many rows the counts were taken over; phrase_rows[i]: how many of them contain phrase i.
std::vector<std::uint8_t> encode_rank_stats(std::int64_t rows, const std::vector<std::int64_t>& phrase_rows);

}  // namespace nibble::history
