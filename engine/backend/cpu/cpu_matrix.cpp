// Building CpuMatrix from file layouts: copy fp16/bf16 rows as they are, dequantize the rest.
#include "backend/cpu/cpu_matrix.h"

#include <cstring>
#include <mutex>

#include "formats/exl2.h"

namespace nibble {

Result<CpuMatrix> cpu_matrix_from(const std::vector<const LinearDesc*>& parts, ThreadPool& pool) {
  CpuMatrix m;
  if (parts.empty()) return make_error(ErrorKind::internal, "cpu_matrix_from: no parts");
  m.K = parts.front()->K;
  bool all_f16 = true, all_bf16 = true, any_bias = false;
  for (const auto* p : parts) {
    if (p->K != m.K) return make_error(ErrorKind::internal, "cpu_matrix_from: ", p->name, " has a different K");
    m.N += p->N;
    all_f16 &= p->format == LinearFormat::f16;
    all_bf16 &= p->format == LinearFormat::bf16;
    any_bias |= p->bias.has_value();
  }
  const std::size_t K = static_cast<std::size_t>(m.K);
  m.type = all_f16 ? CpuWeightType::f16 : all_bf16 ? CpuWeightType::bf16 : CpuWeightType::f32;
  if (m.type == CpuWeightType::f32) m.full.resize(static_cast<std::size_t>(m.N) * K);
  else m.half.resize(static_cast<std::size_t>(m.N) * K);
  if (any_bias) m.bias.assign(static_cast<std::size_t>(m.N), 0.0f);

  std::size_t row = 0;
  for (const auto* p : parts) {
    const std::size_t n = static_cast<std::size_t>(p->N);
    if (m.type == CpuWeightType::f32 && p->format == LinearFormat::exl2) {
      // Column ranges in parallel, each unpacking its own columns from the packed words.
      NIBBLE_TRY(exl2_validate(*p));
      float* dst = m.full.data() + row * K;
      std::mutex mu;
      Status first;
      pool.parallel_for(n, 32, [&](std::size_t a, std::size_t b) {
        Status st = exl2_dequantize_columns(*p, dst, a, b);
        if (!st.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first.ok()) first = std::move(st);
        }
      });
      NIBBLE_TRY(first);
    } else if (m.type == CpuWeightType::f32) {
      NIBBLE_TRY(dequantize_linear(*p, m.full.data() + row * K));
    } else {
      NIBBLE_TRY(validate_linear(*p));
      const std::uint8_t* src = p->weight.data;
      std::uint16_t* dst = m.half.data() + row * K;
      pool.parallel_for(n, 64, [&](std::size_t a, std::size_t b) {
        std::memcpy(dst + a * K, src + a * K * 2, (b - a) * K * 2);
      });
    }
    if (p->bias)
      for (std::size_t i = 0; i < n; ++i) m.bias[row + i] = p->bias->f(i);
    row += n;
  }
  return m;
}

}  // namespace nibble
