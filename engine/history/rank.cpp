#include "history/rank.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nibble::history {
namespace {

constexpr double kK1 = 1.2;  // BM25 term-frequency saturation, as SQLite's bm25()
constexpr double kB = 0.75;  // length normalisation, as SQLite's bm25()

// The same inverse document frequency as SQLite's bm25(), including its floor for words found in
// more than half of the rows.
double idf(std::int64_t rows, std::int64_t with_phrase) {
  double v = std::log((static_cast<double>(rows) - static_cast<double>(with_phrase) + 0.5) /
                      (static_cast<double>(with_phrase) + 0.5));
  return v <= 0.0 ? 1e-6 : v;
}

// What stays the same for every row of one query: the phrase weights, the average row length,
// and a scratch count per phrase. Built on the first row, kept as the query's auxiliary data.
struct QueryState {
  std::vector<double> weight;
  std::vector<double> frequency;
  double average_length = 1.0;
};

QueryState* query_state(const Fts5ExtensionApi* api, Fts5Context* fts, int phrases, int argc, sqlite3_value** argv,
                        int& rc) {
  if (auto* state = static_cast<QueryState*>(api->xGetAuxdata(fts, 0))) return state;
  auto* state = new QueryState;
  // Weights: from the stats blob when it describes this many phrases, otherwise equal.
  state->weight.assign(static_cast<std::size_t>(phrases), 1.0);
  state->frequency.assign(static_cast<std::size_t>(phrases), 0.0);
  if (argc >= 1 && sqlite3_value_type(argv[0]) == SQLITE_BLOB) {
    const auto* blob = static_cast<const unsigned char*>(sqlite3_value_blob(argv[0]));
    const int bytes = sqlite3_value_bytes(argv[0]);
    if (blob != nullptr && bytes == static_cast<int>(sizeof(std::int64_t)) * (phrases + 1)) {
      std::int64_t rows = 0;
      std::memcpy(&rows, blob, sizeof rows);
      for (int i = 0; i < phrases; ++i) {
        std::int64_t n = 0;
        std::memcpy(&n, blob + sizeof(std::int64_t) * static_cast<std::size_t>(i + 1), sizeof n);
        state->weight[static_cast<std::size_t>(i)] = idf(rows, n);
      }
    }
  }
  // Average row length over the whole index: both totals are kept by FTS5 itself.
  sqlite3_int64 rows = 0, tokens = 0;
  rc = api->xRowCount(fts, &rows);
  if (rc == SQLITE_OK) rc = api->xColumnTotalSize(fts, -1, &tokens);
  if (rc == SQLITE_OK && rows > 0 && tokens > 0) state->average_length = static_cast<double>(tokens) / static_cast<double>(rows);
  if (rc == SQLITE_OK)
    rc = api->xSetAuxdata(fts, state, [](void* p) { delete static_cast<QueryState*>(p); });  // frees on failure too
  else
    delete state;
  return rc == SQLITE_OK ? state : nullptr;
}

void rank_row(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* out, int argc, sqlite3_value** argv) {
  const int phrases = api->xPhraseCount(fts);
  if (phrases <= 0) {
    sqlite3_result_double(out, 0.0);
    return;
  }
  int rc = SQLITE_OK;
  QueryState* state = query_state(api, fts, phrases, argc, argv, rc);
  int length = 0, instances = 0;
  if (rc == SQLITE_OK) rc = api->xColumnSize(fts, -1, &length);
  if (rc == SQLITE_OK) rc = api->xInstCount(fts, &instances);
  if (rc != SQLITE_OK) {
    sqlite3_result_error_code(out, rc);
    return;
  }
  std::vector<double>& frequency = state->frequency;
  std::fill(frequency.begin(), frequency.end(), 0.0);
  for (int i = 0; i < instances; ++i) {
    int phrase = 0, column = 0, offset = 0;
    rc = api->xInst(fts, i, &phrase, &column, &offset);
    if (rc != SQLITE_OK) {
      sqlite3_result_error_code(out, rc);
      return;
    }
    if (phrase >= 0 && phrase < phrases) frequency[static_cast<std::size_t>(phrase)] += 1.0;
  }
  const double norm = kK1 * (1.0 - kB + kB * static_cast<double>(length) / state->average_length);
  double score = 0.0;
  for (int i = 0; i < phrases; ++i) {
    const double f = frequency[static_cast<std::size_t>(i)];
    score += state->weight[static_cast<std::size_t>(i)] * (f * (kK1 + 1.0)) / (f + norm);
  }
  sqlite3_result_double(out, -score);
}

}  // namespace

Status register_rank_function(sql::Connection& db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), "SELECT fts5(?1)", -1, &stmt, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_pointer(stmt, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
    rc = sqlite3_step(stmt);
    rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_OK) return db.error(rc, "looking up the FTS5 extension");
  if (api == nullptr || api->iVersion < 2)
    return make_error(ErrorKind::unsupported, db.path(), ": this SQLite library has no usable FTS5 extension");
  rc = api->xCreateFunction(api, kRankFunction, nullptr, &rank_row, nullptr);
  if (rc != SQLITE_OK) return db.error(rc, "registering the search ranking function");
  return {};
}

std::vector<std::uint8_t> encode_rank_stats(std::int64_t rows, const std::vector<std::int64_t>& phrase_rows) {
  std::vector<std::uint8_t> out(sizeof(std::int64_t) * (phrase_rows.size() + 1));
  std::memcpy(out.data(), &rows, sizeof rows);
  for (std::size_t i = 0; i < phrase_rows.size(); ++i)
    std::memcpy(out.data() + sizeof(std::int64_t) * (i + 1), &phrase_rows[i], sizeof(std::int64_t));
  return out;
}

}  // namespace nibble::history
