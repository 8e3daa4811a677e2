// Per-group scale choice for EXL2: every output column gets a 4-bit scale code under one fp16
// maximum per group. Searches, per column, the clipping that minimises the importance-weighted
// rounding error, then the group maximum and each column's code on the quadratic code grid.
// Pure functions over one group's rows; called by the GPTQ solver at each group start.
#pragma once

#include <cstdint>
#include <vector>

#include "util/thread_pool.h"

namespace nibble::quant {

struct GroupScales {
  std::uint16_t smax = 0;             // fp16 bits of q_scale_max
  std::vector<std::uint8_t> codes;    // [N] 4-bit scale codes
  std::vector<float> scale;           // [N] the fp32 scale each code gives (smax * (c+1)^2 / 256)
};

// wt: the group's rows, [rows][ld] (row r = permuted input row, column n = output), current values.
// importance: [rows] weights of each row's squared error (1 / U[k][k]^2 in GPTQ).
GroupScales search_group_scales(const float* wt, int rows, int N, std::size_t ld, const float* importance, int bits,
                                ThreadPool& pool);

// Rounds v to width `bits` under scale s (s = 0 gives the zero code): the code q in [0, 2^bits).
inline int quantize_code(float v, float s, int bits) {
  const int zero = 1 << (bits - 1), qmax = (1 << bits) - 1;
  if (!(s > 0.0f)) return zero;
  float t = v / s;
  t = t < -512.0f ? -512.0f : (t > 512.0f ? 512.0f : t);
  int q = static_cast<int>(t >= 0.0f ? t + 0.5f : t - 0.5f) + zero;
  return q < 0 ? 0 : (q > qmax ? qmax : q);
}

}  // namespace nibble::quant
