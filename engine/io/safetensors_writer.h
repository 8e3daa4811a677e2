// The safetensors writer: lays tensors out contiguously (largest element size first, so every
// tensor stays aligned to its element size), pads the header to 8 bytes, writes to a temporary
// file and renames it into place. Used by the quantizer (EXL2 output) and by tests.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/tensor_view.h"
#include "nibble/error.h"

namespace nibble {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::span<const std::uint8_t> bytes;  // little-endian elements, shape x dtype bytes
};

// invalid_argument when a tensor's bytes do not match its shape or names repeat; io on write errors.
Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

// The serialized file as bytes (same layout as write_safetensors); for tests and fuzz seeds.
Result<std::vector<std::uint8_t>> serialize_safetensors(const std::vector<TensorToWrite>& tensors,
                                                        const std::map<std::string, std::string>& metadata = {});

}  // namespace nibble
