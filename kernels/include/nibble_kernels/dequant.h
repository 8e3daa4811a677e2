// Quantized matrix -> dense fp16 for the prefill path: W[k, n] row-major in the ORIGINAL row order
// (the permutation is undone), so that Y = X W is a plain GEMM on unpermuted activations.
// Implemented in dequant.cu; the GEMM itself goes through cuBLAS (gemm.h).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "nibble_kernels/qgemv.h"

namespace nibble::kernels {

// Columns [n_begin, n_begin + n_count) of W go to out[:, col_offset .. col_offset + n_count):
// out is [k, ldo] fp16 row-major.
int qmatrix_dequant_f16(const QMatrix& m, int n_begin, int n_count, __half* out, int ldo, int col_offset,
                        cudaStream_t stream);

}  // namespace nibble::kernels
