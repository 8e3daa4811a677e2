// Y = X W^T (+ bias) (+ Y) over a CpuMatrix, fp32 accumulation, threaded over output columns.
// AVX2/FMA/F16C kernels are chosen at run time when the CPU has them, with a portable scalar
// fallback computing the same sums. Used by the CPU segment (projections, MLP, head).
#pragma once

#include "backend/cpu/cpu_matrix.h"
#include "util/thread_pool.h"

namespace nibble {

struct MatmulArgs {
  const float* x = nullptr;  // [M][ldx] fp32, row-major; the first K columns are read
  int ldx = 0;
  float* y = nullptr;        // [M][ldy] fp32; columns [0, N) are written
  int ldy = 0;
  int M = 0;
  bool accumulate = false;   // y += X W^T + bias (residual add) instead of y =
  bool force_scalar = false; // use the portable kernel even where AVX2 runs (tests compare both)
};

void cpu_matmul(const CpuMatrix& w, const MatmulArgs& args, ThreadPool& pool);

// The kernel family this CPU runs: "avx2" or "scalar".
const char* cpu_matmul_kernel_name();

}  // namespace nibble
