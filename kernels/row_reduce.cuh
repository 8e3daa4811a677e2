// Block-level sums of squares over activation rows (the RMSNorm statistic), with 16-byte loads
// and several loads in flight per thread so a 4096-wide row costs one memory latency, not a
// chain of them. Internal to the GEMV kernels.
#pragma once

#include <cstddef>

namespace nibble::kernels::detail {

// ss[r] += sum_k x[(row0 + r) * ldx + k]^2 over this thread's share of k in [0, k).
template <int R, int THREADS>
__device__ __forceinline__ void thread_sum_squares(const float* __restrict__ x, std::size_t ldx, int row0, int k,
                                                   float (&ss)[R]) {
  constexpr int kInFlight = 4;
#pragma unroll
  for (int r = 0; r < R; ++r) ss[r] = 0.0f;
  if ((k & 3) == 0 && (ldx & 3) == 0) {
    const int k4 = k >> 2;
    for (int base = threadIdx.x; base < k4; base += THREADS * kInFlight) {
      float4 v[R][kInFlight];
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int j = 0; j < kInFlight; ++j) {
          const int i = base + j * THREADS;
          v[r][j] = i < k4 ? __ldg(reinterpret_cast<const float4*>(x + (row0 + r) * ldx) + i) : make_float4(0, 0, 0, 0);
        }
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int j = 0; j < kInFlight; ++j)
          ss[r] += v[r][j].x * v[r][j].x + v[r][j].y * v[r][j].y + v[r][j].z * v[r][j].z + v[r][j].w * v[r][j].w;
    }
  } else {
    for (int i = threadIdx.x; i < k; i += THREADS)
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const float v = x[(row0 + r) * ldx + i];
        ss[r] += v * v;
      }
  }
}

}  // namespace nibble::kernels::detail
