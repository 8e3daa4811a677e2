// The versioned schema: forward migrations from an empty file (version 0) to kSchemaVersion,
// each in its own transaction, and the backup copy written before a populated file is migrated.
// Owns no connection policy (pragmas, read-only fallback): history/store_open.cpp calls this.
#pragma once

#include <string>

#include "history/sqlite_db.h"
#include "nibble/history.h"

namespace nibble::history {

// PRAGMA user_version of the open file.
Result<int> read_schema_version(sql::Connection& db);

// Runs the migrations that take the file from its version up to `target` (<= kSchemaVersion),
// one transaction per step; on failure the file stays at the last completed version.
Status migrate(sql::Connection& db, int target = kSchemaVersion);

// Copies the whole database (WAL content included) into a new file beside it, named
// "<path>.v<version>-<UTC time>.bak" (a numeric suffix keeps an existing file untouched).
// Returns the backup's path.
Result<std::string> write_backup(sql::Connection& db, int version, const std::string& vfs);

}  // namespace nibble::history
