// Element types of the paged KV cache and the layout of its quantized forms, shared by the RoPE +
// KV append kernel (rope_kv.cu), the attention kernels (attention_rows.cu, attention_prefill.cu)
// and the engine, which allocates the pages.
//
// Every form indexes one "cache row" (one position of one kv head, head_dim values) as
//   row = (page * page_size + position % page_size) * kv_heads + kv_head
// fp16: K and V each [pages, page_size, kv_heads, head_dim] halves.
// q8:   codes [rows][head_dim] int8, symmetric: x ~ code * scale, one fp16 scale per group
//       (scales [rows][head_dim / group]); scale = max|x| / 127, code = rint(clamp(x / scale, +-127)).
// q4:   codes [rows][head_dim / 2] bytes, two 4-bit codes each (value 2i in the low nibble, 2i + 1
//       in the high one), x ~ min + code * scale, (scale, min) as one half2 per group (scales
//       [rows][head_dim / group][2]); scale = (max - min) / 15, code = clamp(rint((x - min) / scale), 0, 15).
// group = kv_quant_group(head_dim): 32, or head_dim when 32 does not divide it (the CPU backend's
// rule). Codes are computed from the fp32 value and the fp32 scale exactly as the CPU backend
// computes them; only the stored scale (and minimum) are rounded to fp16.
#pragma once

#include <cstddef>

namespace nibble::kernels {

enum class KvType : int { fp16 = 0, q8 = 1, q4 = 2 };

inline constexpr int kKvQuantGroup = 32;

// Values per quantization group for a head dimension.
constexpr int kv_quant_group(int head_dim) { return head_dim % kKvQuantGroup == 0 ? kKvQuantGroup : head_dim; }

// Bytes of codes (fp16: values) per cache row.
constexpr std::size_t kv_row_bytes(KvType type, int head_dim) {
  return type == KvType::fp16 ? static_cast<std::size_t>(head_dim) * 2
         : type == KvType::q8 ? static_cast<std::size_t>(head_dim)
                              : static_cast<std::size_t>(head_dim) / 2;
}

// fp16 scale entries per cache row (0 for fp16): q8 one per group, q4 two (scale, min).
constexpr std::size_t kv_row_scales(KvType type, int head_dim) {
  return type == KvType::fp16 ? 0
         : type == KvType::q8 ? static_cast<std::size_t>(head_dim / kv_quant_group(head_dim))
                              : 2 * static_cast<std::size_t>(head_dim / kv_quant_group(head_dim));
}

// Whether the quantized kernels take this head dimension: even, <= 256, and groups of a multiple
// of 8 values (every 8-value chunk the kernels dequantize lies in one group).
constexpr bool kv_quant_supports(int head_dim) {
  return head_dim > 0 && head_dim <= 256 && head_dim % 2 == 0 && kv_quant_group(head_dim) % 8 == 0;
}

}  // namespace nibble::kernels
