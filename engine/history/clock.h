// Wall-clock helpers shared by the store and the exporters: Unix milliseconds and their UTC text.
// Owns no state; every engine/history file that stamps or prints a time uses these.
#pragma once

#include <string>

#include "nibble/history.h"

namespace nibble::history {

TimestampMs now_ms();
// "2026-05-01 14:03 UTC" (minutes), for people.
std::string format_utc_minutes(TimestampMs ms);
// "2026-05-01T14:03:07.123Z" (ISO 8601), for machines.
std::string format_iso8601(TimestampMs ms);

}  // namespace nibble::history
