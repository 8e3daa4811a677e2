// TensorView and DType: a named, typed, shaped view of bytes that live elsewhere (an mmap'd
// safetensors file or a caller's buffer). Owns nothing and parses nothing. Used by io (reader,
// writer), formats (pack/unpack/validate), model (WeightSource) and the backends.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nibble {

static_assert(std::endian::native == std::endian::little, "Nibble reads little-endian tensor data in place");

// The dtypes Nibble reads; safetensors names in dtype_name(). Others (F64, I64, BOOL, F8_*) are
// refused as unsupported by the reader.
enum class DType : std::uint8_t { f32, f16, bf16, i32, i16, i8, u8 };

std::size_t dtype_size(DType t);
std::string_view dtype_name(DType t);               // "F32", "F16", ...
std::optional<DType> dtype_from_name(std::string_view name);
bool dtype_is_float(DType t);

struct TensorView {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;  // row-major, outermost first
  const std::uint8_t* data = nullptr;  // little-endian elements; may be unaligned
  std::size_t nbytes = 0;
  std::string file;  // where the bytes live (for error messages)

  std::int64_t numel() const;
  int rank() const { return static_cast<int>(shape.size()); }
  std::string shape_string() const;  // "[4096, 384]"

  // Element reads through memcpy (alignment-safe). f() converts f32/f16/bf16 to fp32.
  float f(std::size_t i) const;
  std::int32_t i32(std::size_t i) const { return load<std::int32_t>(i); }
  std::int16_t i16(std::size_t i) const { return load<std::int16_t>(i); }
  std::uint16_t u16(std::size_t i) const { return load<std::uint16_t>(i); }
  std::uint32_t u32(std::size_t i) const { return load<std::uint32_t>(i); }

  template <class T>
  T load(std::size_t i) const {
    T v;
    std::memcpy(&v, data + i * sizeof(T), sizeof(T));
    return v;
  }
};

// A view over caller-owned memory (file "(memory)"), for packers and tests.
TensorView make_tensor_view(std::string name, DType dtype, std::vector<std::int64_t> shape, const void* data);

}  // namespace nibble
