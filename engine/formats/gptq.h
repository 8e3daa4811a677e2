// GPTQ: validation, dequantization and the exact unpack/pack pair (codes, zero points, scales,
// g_idx) for 2/3/4/8-bit checkpoints in the v1 (z - 1 stored) and v2 (z stored) conventions.
// Used by linear.cpp, the quantizer and tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/linear.h"

namespace nibble {

Status gptq_validate(const LinearDesc& desc);
// out: [N][K] fp32 as in dequantize_linear; w = (q - z) * scale[group(k)][n].
Status gptq_dequantize(const LinearDesc& desc, float* out);

// Rows-per-group and group of row k as the loader resolves them (g_idx wins when present).
int gptq_group_of(const LinearDesc& desc, int group_size, int k);
Result<int> gptq_group_size(const LinearDesc& desc);
// Rows of each of the file's groups (scales' first dimension), counted through gptq_group_of.
Result<std::vector<int>> gptq_group_rows(const LinearDesc& desc);

struct GptqUnpacked {
  int K = 0;
  int N = 0;
  int bits = 4;
  int group_size = 0;                  // rows per group when g_idx is empty
  bool v2 = false;
  std::vector<std::uint8_t> codes;     // [K][N] in original row order, < 2^bits
  std::vector<std::uint16_t> zeros;    // [G][N] true zero points z (v1 allows 1..2^bits, v2 0..2^bits-1)
  std::vector<std::uint16_t> scales;   // [G][N] fp16 bit patterns
  std::vector<std::int32_t> g_idx;     // [K] or empty (groups of group_size consecutive rows)
};

struct GptqPacked {
  int K = 0, N = 0, bits = 4, G = 0;
  std::vector<std::int32_t> qweight;   // [K * bits / 32, N]
  std::vector<std::int32_t> qzeros;    // [G, N * bits / 32]
  std::vector<std::uint16_t> scales;   // [G, N] fp16
  std::vector<std::int32_t> g_idx;     // [K] or empty

  GptqTensors views(const std::string& prefix, bool v2, int group_size) const;
};

Result<GptqUnpacked> gptq_unpack(const LinearDesc& desc);
// invalid_argument for inconsistent input (width, sizes, codes or zeros out of range).
Result<GptqPacked> gptq_pack(const GptqUnpacked& in);

}  // namespace nibble
