// Whole-file writes that never leave a half-written file under the final name: the bytes go to
// path + ".partial", which is renamed into place only after a successful write and close. Used by
// the safetensors writer and the quantizer's outputs and job record.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>

#include "nibble/error.h"

namespace nibble {

// io error naming the path (a full disk shows as a failed write); the partial file is removed.
Status write_file_atomic(const std::string& path, const void* data, std::size_t n);
// The same for a file made of several byte ranges, written in order (no joined copy).
struct ByteRange {
  const void* data;
  std::size_t size;
};
Status write_file_atomic(const std::string& path, std::initializer_list<ByteRange> parts);
Status write_text_atomic(const std::string& path, const std::string& text);

}  // namespace nibble
