// MappedFile: a read-only memory map of a whole file, released on destruction (RAII).
// Owns the mapping only; parsing is safetensors.h's job. Used by the safetensors reader and
// the model folder loader, which share one mapping per file through shared_ptr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "nibble/error.h"

namespace nibble {

class MappedFile {
 public:
  // io error naming the path when the file cannot be opened, stat'ed or mapped.
  static Result<std::shared_ptr<const MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::string path_;
};

}  // namespace nibble
