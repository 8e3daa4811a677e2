// The "nibble_fault" VFS: a file wrapper whose methods forward to the real file, except xWrite
// (budget) and xOpen (read-only when denied). The real file object lives right after ours.
#include "fault_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>

namespace nibble::history::testing {
namespace {

std::atomic<std::int64_t> g_budget{-1};
std::atomic<std::int64_t> g_refused{0};
std::atomic<bool> g_deny_write{false};
sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;

struct FaultFile {
  sqlite3_file base;
};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<sqlite3_file*>(reinterpret_cast<FaultFile*>(f) + 1); }

int x_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  std::int64_t budget = g_budget.load();
  while (budget >= 0) {
    if (budget < n) {
      ++g_refused;
      return SQLITE_FULL;
    }
    if (g_budget.compare_exchange_weak(budget, budget - n)) break;
  }
  return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) { return real_of(f)->pMethods->xTruncate(real_of(f), size); }
int x_sync(sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); }
int x_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int x_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int x_check_reserved(sqlite3_file* f, int* out) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) { return real_of(f)->pMethods->xFileControl(real_of(f), op, arg); }
int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int x_device_characteristics(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real_of(f)->pMethods->xUnfetch(real_of(f), off, p); }

const sqlite3_io_methods kMethods = {
    3,           x_close,       x_read,         x_write,       x_truncate,  x_sync,      x_file_size,
    x_lock,      x_unlock,      x_check_reserved, x_file_control, x_sector_size, x_device_characteristics,
    x_shm_map,   x_shm_lock,    x_shm_barrier,  x_shm_unmap,   x_fetch,     x_unfetch,
};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  // As the default VFS does on EACCES: an existing file opens read-only, a new one cannot be made.
  const int temp_files = SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_TRANSIENT_DB |
                         SQLITE_OPEN_SUBJOURNAL | SQLITE_OPEN_DELETEONCLOSE;
  if (g_deny_write.load() && (flags & SQLITE_OPEN_READWRITE) && name != nullptr && !(flags & temp_files)) {
    int exists = 0;
    if (g_real->xAccess(g_real, name, SQLITE_ACCESS_EXISTS, &exists) != SQLITE_OK || !exists)
      return SQLITE_CANTOPEN;
    flags = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
  }
  int local_flags = 0;
  int rc = g_real->xOpen(g_real, name, real_of(f), flags, &local_flags);
  if (out_flags != nullptr) *out_flags = local_flags | (flags & SQLITE_OPEN_READONLY);
  f->pMethods = rc == SQLITE_OK && real_of(f)->pMethods != nullptr ? &kMethods : nullptr;
  return rc;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_real->xDelete(g_real, name, sync_dir); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) { return g_real->xAccess(g_real, name, flags, out); }
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void x_dl_error(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*x_dl_sym(sqlite3_vfs*, void* lib, const char* sym))(void) { return g_real->xDlSym(g_real, lib, sym); }
void x_dl_close(sqlite3_vfs*, void* lib) { g_real->xDlClose(g_real, lib); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int x_current_time(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError(g_real, n, out); }
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) { return g_real->xCurrentTimeInt64(g_real, out); }

}  // namespace

void fault_vfs_register() {
  if (g_real != nullptr) return;
  g_real = sqlite3_vfs_find(nullptr);
  std::memset(&g_vfs, 0, sizeof g_vfs);
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_real->szOsFile;
  g_vfs.mxPathname = g_real->mxPathname;
  g_vfs.zName = kFaultVfsName;
  g_vfs.xOpen = x_open;
  g_vfs.xDelete = x_delete;
  g_vfs.xAccess = x_access;
  g_vfs.xFullPathname = x_full_pathname;
  g_vfs.xDlOpen = x_dl_open;
  g_vfs.xDlError = x_dl_error;
  g_vfs.xDlSym = x_dl_sym;
  g_vfs.xDlClose = x_dl_close;
  g_vfs.xRandomness = x_randomness;
  g_vfs.xSleep = x_sleep;
  g_vfs.xCurrentTime = x_current_time;
  g_vfs.xGetLastError = x_get_last_error;
  g_vfs.xCurrentTimeInt64 = x_current_time_int64;
  sqlite3_vfs_register(&g_vfs, 0);
}

void fault_vfs_set_write_budget(std::int64_t bytes) {
  g_budget = bytes;
  if (bytes < 0) g_refused = 0;
}

std::int64_t fault_vfs_refused_writes() { return g_refused.load(); }

void fault_vfs_deny_write_opens(bool deny) { g_deny_write = deny; }

}  // namespace nibble::history::testing
