// Dense GEMM for prefill through cuBLAS (tensor cores, fp32 accumulation), row-major views:
// C[m, n] = A[m, k] * op(B) + beta * C, A fp16 activations; B fp16 either [k, n] (dequantized
// quantized weights) or [n, k] (Hugging Face dense weights). C fp32 or fp16. gemm.cu.
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>

namespace nibble::kernels {

struct GemmArgs {
  int m = 0, n = 0, k = 0;
  const __half* a = nullptr;  // [m, k], row stride lda
  int lda = 0;
  const __half* b = nullptr;  // [k, n] (b_is_nk false) or [n, k] (true), row stride ldb
  int ldb = 0;
  bool b_is_nk = false;
  void* c = nullptr;          // [m, n], row stride ldc
  int ldc = 0;
  bool c_fp32 = true;
  float beta = 0.0f;          // 1: accumulate into C (residual add)
};

// Returns 0, a cudaError_t, or 1000 + cublasStatus_t.
int gemm_f16(cublasHandle_t handle, const GemmArgs& args, cudaStream_t stream);

}  // namespace nibble::kernels
