// A SQLite VFS for failure-injection tests, registered as "nibble_fault": it forwards to the
// default VFS but can fail writes with SQLITE_FULL once a byte budget is spent (a full disk), and
// can open every file read-only as the default VFS does on EACCES (a file that cannot be written).
// Used by test_history_failures.cpp; the store selects it through HistoryOptions::vfs.
#pragma once

#include <cstdint>

namespace nibble::history::testing {

inline constexpr const char* kFaultVfsName = "nibble_fault";

// Registers the VFS (once per process; not as the default).
void fault_vfs_register();
// Bytes that may still be written through the VFS; negative = unlimited (the default).
void fault_vfs_set_write_budget(std::int64_t bytes);
// Writes refused since the budget ran out.
std::int64_t fault_vfs_refused_writes();
// true: files are opened read-only, as if permission to write were denied.
void fault_vfs_deny_write_opens(bool deny);

}  // namespace nibble::history::testing
