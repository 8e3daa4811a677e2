// StopText: the text side of a job's stop strings. Deltas go in; what comes out is safe to show:
// text that could still be the start of a stop string is held back until the next delta proves
// it is not, and a completed stop string ends the text (kept or cut as asked). Internal to
// engine/runtime (used by the Generator per job).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nibble {

class StopText {
 public:
  explicit StopText(std::vector<std::string> stops = {}, bool include_stop = false)
      : stops_(std::move(stops)), include_(include_stop) {}

  // Appends `delta`; returns the text now safe to emit. `check` false (min tokens not reached yet)
  // emits everything without matching. Sets `matched` when a stop string completed.
  std::string push(std::string_view delta, bool check, bool& matched);
  // The text still held back (at the end of a job that did not stop on a string).
  std::string flush();

 private:
  std::vector<std::string> stops_;
  bool include_;
  std::string pending_;
};

}  // namespace nibble
