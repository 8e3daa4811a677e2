// DType names and sizes, and TensorView's element helpers.
#include "io/tensor_view.h"

#include "util/half.h"

namespace nibble {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: case DType::i16: return 2;
    case DType::i8: case DType::u8: return 1;
  }
  return 1;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i32: return "I32";
    case DType::i16: return "I16";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
  }
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (DType t : {DType::f32, DType::f16, DType::bf16, DType::i32, DType::i16, DType::i8, DType::u8})
    if (dtype_name(t) == name) return t;
  return std::nullopt;
}

bool dtype_is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string TensorView::shape_string() const {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

float TensorView::f(std::size_t i) const {
  switch (dtype) {
    case DType::f32: return load<float>(i);
    case DType::f16: return fp16_to_fp32(load<std::uint16_t>(i));
    case DType::bf16: return bf16_to_fp32(load<std::uint16_t>(i));
    default: return 0.0f;
  }
}

TensorView make_tensor_view(std::string name, DType dtype, std::vector<std::int64_t> shape, const void* data) {
  TensorView t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = static_cast<const std::uint8_t*>(data);
  t.nbytes = static_cast<std::size_t>(t.numel()) * dtype_size(dtype);
  t.file = "(memory)";
  return t;
}

}  // namespace nibble
