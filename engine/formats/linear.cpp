// Format dispatch for a linear layer: names, validation, dequantization and bits per weight.
#include "formats/linear.h"

#include "formats/exl2.h"
#include "formats/gptq.h"
#include "util/half.h"

namespace nibble {
namespace {

Error bad(const TensorView& t, const std::string& what) {
  return make_error(ErrorKind::format, t.file, ": tensor '", t.name, "': ", what);
}

Status validate_dense(const LinearDesc& d) {
  const auto& w = d.weight;
  const DType want = d.format == LinearFormat::f32 ? DType::f32 : d.format == LinearFormat::f16 ? DType::f16 : DType::bf16;
  if (w.dtype != want) return bad(w, "dtype " + std::string(dtype_name(w.dtype)) + " does not match the layer format");
  if (w.rank() != 2 || w.shape[0] != d.N || w.shape[1] != d.K)
    return bad(w, "shape " + w.shape_string() + ", expected [" + std::to_string(d.N) + ", " + std::to_string(d.K) + "]");
  return {};
}

}  // namespace

std::string_view linear_format_name(LinearFormat f) {
  switch (f) {
    case LinearFormat::f32: return "fp32";
    case LinearFormat::f16: return "fp16";
    case LinearFormat::bf16: return "bf16";
    case LinearFormat::exl2: return "exl2";
    case LinearFormat::gptq: return "gptq";
  }
  return "?";
}

double LinearDesc::bits_per_weight() const {
  std::size_t bytes = 0;
  switch (format) {
    case LinearFormat::f32: case LinearFormat::f16: case LinearFormat::bf16:
      bytes = weight.nbytes;
      break;
    case LinearFormat::exl2:
      bytes = exl2.q_weight.nbytes + exl2.q_scale.nbytes + exl2.q_scale_max.nbytes + exl2.q_groups.nbytes +
              exl2.q_invperm.nbytes;
      break;
    case LinearFormat::gptq:
      bytes = gptq.qweight.nbytes + gptq.qzeros.nbytes + gptq.scales.nbytes + (gptq.g_idx ? gptq.g_idx->nbytes : 0);
      break;
  }
  const double weights = static_cast<double>(K) * static_cast<double>(N);
  return weights > 0 ? static_cast<double>(bytes) * 8.0 / weights : 0.0;
}

Status validate_linear(const LinearDesc& d) {
  if (d.K <= 0 || d.N <= 0) return make_error(ErrorKind::format, d.name, ": empty linear layer");
  switch (d.format) {
    case LinearFormat::f32: case LinearFormat::f16: case LinearFormat::bf16: NIBBLE_TRY(validate_dense(d)); break;
    case LinearFormat::exl2: NIBBLE_TRY(exl2_validate(d)); break;
    case LinearFormat::gptq: NIBBLE_TRY(gptq_validate(d)); break;
  }
  if (d.bias) {
    const auto& b = *d.bias;
    if (!dtype_is_float(b.dtype)) return bad(b, "bias must be a float tensor");
    if (b.rank() != 1 || b.shape[0] != d.N) return bad(b, "shape " + b.shape_string() + ", expected [" + std::to_string(d.N) + "]");
  }
  return {};
}

Status dequantize_linear(const LinearDesc& d, float* out) {
  NIBBLE_TRY(validate_linear(d));
  const std::size_t n = static_cast<std::size_t>(d.K) * static_cast<std::size_t>(d.N);
  switch (d.format) {
    case LinearFormat::f32: case LinearFormat::f16: case LinearFormat::bf16:
      for (std::size_t i = 0; i < n; ++i) out[i] = d.weight.f(i);
      return {};
    case LinearFormat::exl2: return exl2_dequantize(d, out);
    case LinearFormat::gptq: return gptq_dequantize(d, out);
  }
  return {};
}

}  // namespace nibble
