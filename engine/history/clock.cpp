// Unix-millisecond clock and UTC formatting (gmtime_r: no shared static state between threads).
#include "history/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace nibble::history {
namespace {

std::tm utc_tm(TimestampMs ms) {
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}

}  // namespace

TimestampMs now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_utc_minutes(TimestampMs ms) {
  std::tm tm = utc_tm(ms);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min);
  return buf;
}

std::string format_iso8601(TimestampMs ms) {
  std::tm tm = utc_tm(ms);
  int millis = static_cast<int>(((ms % 1000) + 1000) % 1000);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

}  // namespace nibble::history
