// Row-major GEMM on cuBLAS's column-major API: C^T = op(B)^T A^T, so B is the first operand.
#include "nibble_kernels/gemm.h"

namespace nibble::kernels {

int gemm_f16(cublasHandle_t handle, const GemmArgs& g, cudaStream_t stream) {
  if (!handle || !g.a || !g.b || !g.c || g.m < 0 || g.n <= 0 || g.k <= 0 || g.lda < g.k || g.ldc < g.n ||
      g.ldb < (g.b_is_nk ? g.k : g.n))
    return cudaErrorInvalidValue;
  if (g.m == 0) return 0;
  cublasStatus_t st = cublasSetStream(handle, stream);
  if (st != CUBLAS_STATUS_SUCCESS) return 1000 + static_cast<int>(st);
  const float alpha = 1.0f;
  st = cublasGemmEx(handle, g.b_is_nk ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, g.n, g.m, g.k, &alpha, g.b,
                    CUDA_R_16F, g.ldb, g.a, CUDA_R_16F, g.lda, &g.beta, g.c, g.c_fp32 ? CUDA_R_32F : CUDA_R_16F,
                    g.ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  return st == CUBLAS_STATUS_SUCCESS ? 0 : 1000 + static_cast<int>(st);
}

}  // namespace nibble::kernels
