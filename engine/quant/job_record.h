// The job record: OUT/.nibble-job/ holds the settings (with the input hashes), the state (stage,
// next layer, measurement so far, allocation, per-layer report), the hidden states needed to go on,
// and each finished layer's packed tensors. Every file is written to a temporary name and renamed,
// and the state names the hidden-state file it goes with, so a kill at any point leaves either the
// old or the new consistent record. Used by the orchestration.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"  // write_file_atomic, write_text_atomic
#include "nibble/error.h"

namespace nibble::quant {

class JobRecord {
 public:
  // Prepares output_dir: created when absent; an empty folder starts a new job; a folder holding a
  // record with the same settings resumes it (resumed = true, state() loaded). Anything else is an
  // invalid_argument error naming the folder (not empty, or a job with other settings).
  static Result<JobRecord> open(const std::string& output_dir, const nlohmann::json& settings, bool& resumed);

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  nlohmann::json& state() { return state_; }
  const nlohmann::json& state() const { return state_; }

  // Writes state() atomically, then removes the files listed in `obsolete` (superseded hidden states).
  Status save(const std::vector<std::string>& obsolete = {});
  // The same for a state serialized earlier (state().dump()): what a background save writes while
  // the caller goes on changing state(). Callers never run two saves at once.
  Status save_text(const std::string& state_text, const std::vector<std::string>& obsolete = {}) const;

  // Raw fp32 arrays (hidden states) with a small header; read checks the element count.
  Status write_floats(const std::string& name, const float* data, std::size_t count) const;
  Result<std::vector<float>> read_floats(const std::string& name, std::size_t count) const;

  // Removes the whole record (after the output is complete).
  Status remove();

 private:
  std::string dir_;
  nlohmann::json state_ = nlohmann::json::object();
};

}  // namespace nibble::quant
