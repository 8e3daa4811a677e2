// libFuzzer target: the safetensors parser on arbitrary bytes (header length, JSON, offsets,
// shapes, dtypes), then every accessor on what it accepted. Findings are crashes, sanitizer
// reports or an accepted tensor whose bytes fall outside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = nibble::parse_safetensors(std::span<const std::uint8_t>(data, size), "fuzz.safetensors");
  if (!r) return 0;
  for (const auto& t : r->tensors) {
    if (t.data < data || t.data + t.nbytes > data + size) std::abort();
    if (static_cast<std::size_t>(t.numel()) * nibble::dtype_size(t.dtype) != t.nbytes) std::abort();
    (void)t.shape_string();
    if (t.nbytes == 0) continue;
    const std::size_t last = static_cast<std::size_t>(t.numel()) - 1;
    if (nibble::dtype_is_float(t.dtype)) {
      volatile float f = t.f(0) + t.f(last);
      (void)f;
    } else if (t.dtype == nibble::DType::i32) {
      volatile std::int32_t v = t.i32(last);
      (void)v;
    }
  }
  return 0;
}
