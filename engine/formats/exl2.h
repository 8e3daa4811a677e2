// EXL2: the group table, validation, dequantization, and the exact unpack/pack pair between the
// file's tensors and their contents (codes, scale codes, permutation). Layout facts are in
// docs FORMATS.md and were checked against files made by ExLlamaV2's converter. Used by
// linear.cpp (validate/dequantize dispatch), the quantizer (pack) and tests (round trips).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/linear.h"

namespace nibble {

// One group along the permuted K.
struct Exl2Group {
  int bits = 0;
  int q_row = 0;    // first q_weight row (int32 words) of the group
  int k_begin = 0;  // first permuted input row
  int k_rows = 0;   // permuted input rows in the group
};

// Parses and checks q_groups against q_weight and K: widths in {2,3,4,5,6,8}, non-increasing
// (ExLlamaV2's kernels walk widths from 8 down to 2), rows packing into whole word blocks, summing to K.
Result<std::vector<Exl2Group>> exl2_groups(const LinearDesc& desc);

Status exl2_validate(const LinearDesc& desc);
// out: [N][K] fp32 as in dequantize_linear; w = (q - 2^(b-1)) * q_scale_max[g] * ((c + 1) / 16)^2.
Status exl2_dequantize(const LinearDesc& desc, float* out);
// The same for output columns [n_begin, n_end) only (rows n of `out`), unpacking straight from the
// packed words: independent ranges can run in parallel (the CPU backend's load does).
Status exl2_dequantize_columns(const LinearDesc& desc, float* out, std::size_t n_begin, std::size_t n_end);

// The contents of an EXL2 layer in plain arrays.
struct Exl2Unpacked {
  int K = 0;
  int N = 0;
  std::vector<int> group_bits;            // [G] non-increasing
  std::vector<int> group_rows;            // [G] permuted input rows per group (sum = K)
  std::vector<std::uint8_t> codes;        // [K][N] along the permuted K: codes[k * N + n] < 2^bits
  std::vector<std::uint8_t> scale_codes;  // [G][N] 4-bit scale codes
  std::vector<std::uint16_t> scale_max;   // [G] fp16 bit patterns
  std::vector<std::int32_t> perm;         // [K] perm[k] = original input row of permuted row k
};

// The packed tensors (what a file holds) plus views over them for a LinearDesc.
struct Exl2Packed {
  std::int64_t q_rows = 0;
  int N = 0;
  std::vector<std::int32_t> q_weight;     // [q_rows, N]
  std::vector<std::int32_t> q_scale;      // [G, N / 8]
  std::vector<std::uint16_t> q_scale_max; // [G] fp16
  std::vector<std::int16_t> q_groups;     // [2G]
  std::vector<std::int32_t> q_invperm;    // [K]

  // Views named "<prefix>.q_weight" etc.; valid while this object lives and is not moved.
  Exl2Tensors views(const std::string& prefix) const;
};

Result<Exl2Unpacked> exl2_unpack(const LinearDesc& desc);
// invalid_argument for inconsistent input (bad widths or order, rows not fitting word blocks,
// codes out of range, N not a multiple of 8, perm not a permutation).
Result<Exl2Packed> exl2_pack(const Exl2Unpacked& in);

}  // namespace nibble
