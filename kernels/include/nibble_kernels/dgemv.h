// Dense GEMV for decode (1-8 rows) over fp16/bf16 weights in Hugging Face layout [n, k] row-major:
// y[r, n] = sum_k x[r, k] * W[n, k], fp32 accumulation. Same input/output modes as the quantized
// GEMV (fused RMSNorm input, residual add, SiLU-gated pair). Implemented in dgemv.cu.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "nibble_kernels/qgemv.h"

namespace nibble::kernels {

enum class WeightType : int { fp16 = 0, bf16 = 1 };

struct DMatrix {
  const void* w = nullptr;        // [n, k] row-major, fp16 or bf16; k % 8 == 0, 16-byte aligned rows
  WeightType type = WeightType::fp16;
  const __half* bias = nullptr;   // [n] or nullptr
  int k = 0;
  int n = 0;
};

struct DGemvArgs {
  DMatrix m[3];
  QGemvTarget target[3];
  int count = 1;
  QGemvInput input = QGemvInput::fp16;  // fp16: x is __half [rows, k]; fp32_rmsnorm: float hidden
  QGemvOutput output = QGemvOutput::store_fp32;
  const void* x = nullptr;
  int ldx = 0;
  const __half* norm_weight = nullptr;
  float norm_eps = 1e-6f;
  int rows = 1;  // 1..32 (passes of 8)
};

int dgemv(const DGemvArgs& args, cudaStream_t stream);

}  // namespace nibble::kernels
