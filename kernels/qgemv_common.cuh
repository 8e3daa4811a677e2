// Shared pieces of the quantized GEMV kernels (qgemv.cu: any EXL2/GPTQ widths; qgemv_u4.cu:
// uniform 4-bit groups): launch parameters, the block/tile geometry and the split-K epilogue.
// Internal to the kernels library.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>

#include "nibble_kernels/qgemv.h"

namespace nibble::kernels::detail {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTileN = 128;
constexpr int kRowsPerPass = 8;

struct LaunchMatrix {
  QMatrix m;
  QGemvTarget t;
  int tiles;
  int blocks;
  int ws_offset;       // floats
  int counter_offset;  // counters
  int expected;        // arrivals per tile before the epilogue runs
};

struct Params {
  LaunchMatrix mats[3];
  int count;
  const void* x;
  int ldx;
  const __half* norm_weight;
  float eps;
  int row0;
  float* ws;
  unsigned* counters;
  QGemvOutput output;
  int max_len;     // staging row stride (halves)
  int max_groups;  // scale table rows
};

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

// Sum of n partials at p[i * stride] in index order (deterministic), loads issued 8 at a time.
__device__ __forceinline__ float sum_partials(const float* p, std::size_t stride, int n) {
  float t = 0.0f;
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    float v[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = __ldcg(p + (i + j) * stride);
#pragma unroll
    for (int j = 0; j < 8; ++j) t += v[j];
  }
  for (; i < n; ++i) t += __ldcg(p + i * stride);
  return t;
}

// The end of every GEMV block: reduce the warps' column sums through shared memory (red holds
// kWarps * R * kTileN floats), then either store directly or park the split-K partial; the last
// block of a tile to arrive sums the partials in split order and runs the epilogue.
template <int R>
__device__ __forceinline__ void finish_tile(const Params& p, const LaunchMatrix& L, int tile, int split,
                                            const float (&tot)[R][4], float* red, bool* s_last_ptr) {
  const QMatrix& M = L.m;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  bool& s_last = *s_last_ptr;
  __syncthreads();
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) red[(warp * R + r) * kTileN + lane * 4 + c] = tot[r][c];
  __syncthreads();
  const bool owner = tid < kTileN;
  float y[R];
  if (owner) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float t = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) t += red[(w * R + r) * kTileN + tid];
      y[r] = t;
    }
  }
  const int n = tile * kTileN + tid;

  // Split-K: park the partial; the last block of the tile reduces in split order.
  const bool direct = p.output != QGemvOutput::silu_mul && M.n_splits == 1;
  if (!direct) {
    if (owner) {
#pragma unroll
      for (int r = 0; r < R; ++r) p.ws[L.ws_offset + static_cast<std::size_t>(split * R + r) * M.n_pad + n] = y[r];
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) {
      const unsigned prev = atomicAdd(&p.counters[L.counter_offset + tile], 1u);
      s_last = prev + 1 == static_cast<unsigned>(L.expected);
    }
    __syncthreads();
    if (!s_last) return;
    __threadfence();
    if (tid == 0) p.counters[L.counter_offset + tile] = 0u;
    if (!owner) return;
    if (p.output == QGemvOutput::silu_mul) {
      const LaunchMatrix& Lg = p.mats[0];
      const LaunchMatrix& Lu = p.mats[1];
      if (n < Lg.m.n) {
        __half* out = static_cast<__half*>(Lg.t.out);
        for (int r = 0; r < R; ++r) {
          float gv = sum_partials(p.ws + Lg.ws_offset + static_cast<std::size_t>(r) * Lg.m.n_pad + n,
                                  static_cast<std::size_t>(R) * Lg.m.n_pad, Lg.m.n_splits);
          float uv = sum_partials(p.ws + Lu.ws_offset + static_cast<std::size_t>(r) * Lu.m.n_pad + n,
                                  static_cast<std::size_t>(R) * Lu.m.n_pad, Lu.m.n_splits);
          if (Lg.m.bias) gv += __half2float(Lg.m.bias[n]);
          if (Lu.m.bias) uv += __half2float(Lu.m.bias[n]);
          out[static_cast<std::size_t>(p.row0 + r) * Lg.t.ld + n] = __float2half_rn(silu(gv) * uv);
        }
      }
      return;
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
      y[r] = sum_partials(p.ws + L.ws_offset + static_cast<std::size_t>(r) * M.n_pad + n,
                          static_cast<std::size_t>(R) * M.n_pad, M.n_splits);
  }
  if (!owner || n >= M.n) return;
  const float bias = M.bias ? __half2float(M.bias[n]) : 0.0f;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const std::size_t o = static_cast<std::size_t>(p.row0 + r) * L.t.ld + n;
    const float v = y[r] + bias;
    switch (p.output) {
      case QGemvOutput::store_fp32: static_cast<float*>(L.t.out)[o] = v; break;
      case QGemvOutput::store_fp16: static_cast<__half*>(L.t.out)[o] = __float2half_rn(v); break;
      case QGemvOutput::add_fp32: static_cast<float*>(L.t.out)[o] += v; break;
      default: break;
    }
  }
}

// Launches the uniform 4-bit kernel for one pass of r rows (qgemv_u4.cu).
int launch_u4(int r, const Params& p, int blocks, std::size_t smem, bool norm, cudaStream_t stream);

}  // namespace nibble::kernels::detail
