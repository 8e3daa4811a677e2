// CpuMatrix: a linear layer's weight resident in host memory in the layout the CPU kernels read
// ([N][K] rows, fp16/bf16 kept as stored, fp32 otherwise), plus an optional fp32 bias. Owns the
// bytes. Built from LinearDesc(s) by cpu_matrix.cpp (several layers can be fused along N); read by
// cpu_matmul. Used only inside backend/cpu.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "formats/linear.h"
#include "util/thread_pool.h"

namespace nibble {

enum class CpuWeightType : std::uint8_t { f32, f16, bf16 };

struct CpuMatrix {
  CpuWeightType type = CpuWeightType::f32;
  int N = 0;                         // out_features (rows)
  int K = 0;                         // in_features (contiguous)
  std::vector<std::uint16_t> half;   // [N][K] fp16 or bf16 bits when type != f32
  std::vector<float> full;           // [N][K] fp32 when type == f32
  std::vector<float> bias;           // [N] fp32, empty when the layer has none
  // A copy another device made of this weight (the quantizer's CUDA path attaches its upload here
  // so that it lives and dies with the matrix); the CPU kernels ignore it.
  mutable std::shared_ptr<void> device;

  std::size_t bytes() const { return half.size() * 2 + full.size() * 4 + bias.size() * 4; }
};

// Builds one matrix from layers sharing K, stacked along N in the given order (q|k|v, gate|up).
// fp16/bf16 stay as stored when every part has that dtype (exact: fp16/bf16 -> fp32 is lossless at
// use); anything else, including EXL2/GPTQ, is dequantized to fp32 once here.
Result<CpuMatrix> cpu_matrix_from(const std::vector<const LinearDesc*>& parts, ThreadPool& pool);

}  // namespace nibble
