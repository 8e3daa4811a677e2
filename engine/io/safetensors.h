// The safetensors reader: strict validation of the header (length bounded, JSON well formed,
// offsets inside the data section and non-overlapping, size = shape x dtype) over an in-memory
// buffer or an mmap'd file. Does not interpret tensor names (model/ does). Used by the model
// folder loader, the quantizer and the safetensors fuzz target.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/mapped_file.h"
#include "io/tensor_view.h"
#include "nibble/error.h"

namespace nibble {

// Largest JSON header accepted (the reference implementation's limit).
inline constexpr std::uint64_t kSafetensorsMaxHeader = 100u << 20;

struct SafetensorsContents {
  std::vector<TensorView> tensors;  // sorted by name; data points into the parsed buffer
  std::map<std::string, std::string> metadata;  // "__metadata__" (string -> string)
};

// Parses and validates a whole safetensors file held in `bytes`; `file` names it in errors.
// Errors: format (malformed, lying about itself), unsupported (a dtype Nibble does not read).
Result<SafetensorsContents> parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& file);

// A validated safetensors file kept mapped for as long as this object (or a copy) lives.
class SafetensorsFile {
 public:
  static Result<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return map_->path(); }
  const std::vector<TensorView>& tensors() const { return contents_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return contents_.metadata; }
  const TensorView* find(const std::string& name) const;  // nullptr when absent

 private:
  std::shared_ptr<const MappedFile> map_;
  SafetensorsContents contents_;
};

}  // namespace nibble
