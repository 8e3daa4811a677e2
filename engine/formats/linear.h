// LinearDesc: one linear layer's weights as they sit in the file (dense, EXL2 or GPTQ), with K
// (in_features) and N (out_features). Owns no bytes (views into mapped files). The pure functions
// here validate a layer and dequantize it; pack lives in exl2.h / gptq.h. Built by WeightSource,
// consumed by the backends and the quantizer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "io/tensor_view.h"
#include "nibble/error.h"

namespace nibble {

enum class LinearFormat : std::uint8_t { f32, f16, bf16, exl2, gptq };
std::string_view linear_format_name(LinearFormat f);  // "fp32", "fp16", "bf16", "exl2", "gptq"

struct Exl2Tensors {
  TensorView q_weight;     // I32 [sum over groups of rows * bits / 32, N] codes, bitstream along K per column
  TensorView q_scale;      // I32 [G, N / 8] 4-bit scale codes, 8 per word along N, lowest bits first
  TensorView q_scale_max;  // F16 [G] per-group maximum scale
  TensorView q_groups;     // I16 [2G] (bits, first q_weight row) per group, along the permuted K
  TensorView q_invperm;    // I32 [K] inverse of the row permutation: permuted row of original row k
};

struct GptqTensors {
  TensorView qweight;              // I32 [K * bits / 32, N] codes, bitstream along K per column
  TensorView qzeros;               // I32 [G, N * bits / 32] zero points, bitstream along N per row
  TensorView scales;               // F16 [G, N]
  std::optional<TensorView> g_idx; // I32 [K] group of each input row (act-order)
  int bits = 4;
  bool v2 = false;                 // zero points stored as is (v1 stores z - 1)
  int group_size = 0;              // rows per group when g_idx is absent (0: K / G)
};

struct LinearDesc {
  std::string name;  // tensor prefix, e.g. "model.layers.0.self_attn.q_proj"
  LinearFormat format = LinearFormat::f16;
  int K = 0;         // in_features
  int N = 0;         // out_features
  TensorView weight; // dense formats: [N, K] row-major (torch nn.Linear layout)
  Exl2Tensors exl2;
  GptqTensors gptq;
  std::optional<TensorView> bias;  // [N] float

  // Bits per weight of the stored tensors (codes, scales, tables, bias excluded) over K x N.
  double bits_per_weight() const;
};

// Checks dtypes, shapes, group tables, bit widths and permutations; format errors name the file
// and the tensor. Does not scan values for NaN (WeightSource does).
Status validate_linear(const LinearDesc& desc);

// Dequantizes (or converts) to fp32 `out`: [N][K] row-major, out[n * K + k] = W[n][k], i.e. the
// nn.Linear weight so that y[n] = sum_k W[n][k] x[k]. `out` holds N*K floats. Validates first.
Status dequantize_linear(const LinearDesc& desc, float* out);

}  // namespace nibble
