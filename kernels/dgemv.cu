// Dense GEMV: each warp owns 2 output columns (rows of W) and walks all of K with 16-byte loads
// (8 weights per lane per step), fp32 accumulation; no split-K, so each output is written once by
// its warp. Activations are read through L1 (and normalised on the fly in RMSNorm mode).
#include "nibble_kernels/dgemv.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "launch.cuh"
#include "row_reduce.cuh"

namespace nibble::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kColsPerWarp = 2;
constexpr int kColsPerBlock = kWarps * kColsPerWarp;
constexpr int kRowsPerPass = 8;

struct LaunchMatrix {
  DMatrix m;
  QGemvTarget t;
  int blocks;
};

struct Params {
  LaunchMatrix mats[3];
  int count;
  const void* x;
  int ldx;
  const __half* norm_weight;
  float eps;
  int row0;
  QGemvOutput output;
  QGemvInput input;
};

__device__ __forceinline__ void unpack8(const uint4& raw, WeightType type, float (&w)[8]) {
  const std::uint32_t v[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if (type == WeightType::fp16) {
      half2 h;
      *reinterpret_cast<std::uint32_t*>(&h) = v[i];
      const float2 f = __half22float2(h);
      w[2 * i] = f.x;
      w[2 * i + 1] = f.y;
    } else {
      w[2 * i] = __uint_as_float(v[i] << 16);
      w[2 * i + 1] = __uint_as_float(v[i] & 0xffff0000u);
    }
  }
}

// x[r, k..k+7] as floats (normalised when the input is the fp32 hidden state).
template <int R>
__device__ __forceinline__ void load_x8(const Params& p, const float (&rms)[R], int k, float (&xv)[R][8]) {
  if (p.input == QGemvInput::fp32_rmsnorm) {
    const float* x = static_cast<const float*>(p.x);
    const uint4 nw = *reinterpret_cast<const uint4*>(p.norm_weight + k);
    const __half* nh = reinterpret_cast<const __half*>(&nw);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float4* xr = reinterpret_cast<const float4*>(x + static_cast<std::size_t>(p.row0 + r) * p.ldx + k);
      const float4 a = xr[0], b = xr[1];
      const float raw[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) xv[r][i] = raw[i] * rms[r] * __half2float(nh[i]);
    }
  } else {
    const __half* x = static_cast<const __half*>(p.x);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint4 raw = *reinterpret_cast<const uint4*>(x + static_cast<std::size_t>(p.row0 + r) * p.ldx + k);
      const __half* h = reinterpret_cast<const __half*>(&raw);
#pragma unroll
      for (int i = 0; i < 8; ++i) xv[r][i] = __half2float(h[i]);
    }
  }
}

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

template <int R>
__global__ void __launch_bounds__(kThreads) dgemv_kernel(const __grid_constant__ Params p) {
  __shared__ float s_red[kWarps][R];
  __shared__ float s_rms[R];
  int b = blockIdx.x;
  int mi = 0;
  const bool pair = p.output == QGemvOutput::silu_mul;
  if (!pair) {
    while (mi + 1 < p.count && b >= p.mats[mi].blocks) {
      b -= p.mats[mi].blocks;
      ++mi;
    }
  }
  const DMatrix& M = p.mats[mi].m;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  allow_next_launch();
  grid_dependency_wait();
  const int k = M.k;

  float rms[R];
#pragma unroll
  for (int r = 0; r < R; ++r) rms[r] = 1.0f;
  if (p.input == QGemvInput::fp32_rmsnorm) {
    const float* x = static_cast<const float*>(p.x);
    float ss[R];
    detail::thread_sum_squares<R, kThreads>(x, static_cast<std::size_t>(p.ldx), p.row0, k, ss);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float v = ss[r];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0) s_red[warp][r] = v;
    }
    __syncthreads();
    if (tid < R) {
      float t = 0.0f;
      for (int w = 0; w < kWarps; ++w) t += s_red[w][tid];
      s_rms[tid] = rsqrtf(t / static_cast<float>(k) + p.eps);
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < R; ++r) rms[r] = s_rms[r];
  }

  // Columns of this warp: in pair mode, column c of gate (matrix 0) and of up (matrix 1).
  const int col0 = (b * kWarps + warp) * (pair ? 1 : kColsPerWarp);
  const int ncols = pair ? 2 : kColsPerWarp;
  const DMatrix* mats[2];
  int cols[2];
  for (int j = 0; j < 2; ++j) {
    mats[j] = pair ? &p.mats[j].m : &M;
    cols[j] = pair ? col0 : col0 + j;
  }
  float acc[2][R];
#pragma unroll
  for (int j = 0; j < 2; ++j)
#pragma unroll
    for (int r = 0; r < R; ++r) acc[j][r] = 0.0f;
  const int n_limit = M.n;
  for (int kk = lane * 8; kk < k; kk += 32 * 8) {
    float xv[R][8];
    load_x8<R>(p, rms, kk, xv);
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      if (j >= ncols || cols[j] >= n_limit) continue;
      const DMatrix& D = *mats[j];
      const std::size_t elem = static_cast<std::size_t>(cols[j]) * k + kk;
      const uint4 raw = __ldg(reinterpret_cast<const uint4*>(static_cast<const std::uint16_t*>(D.w) + elem));
      float w[8];
      unpack8(raw, D.type, w);
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[j][r] = fmaf(w[i], xv[r][i], acc[j][r]);
    }
  }
#pragma unroll
  for (int j = 0; j < 2; ++j)
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float v = acc[j][r];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      acc[j][r] = v;
    }
  if (lane != 0) return;
  if (pair) {
    if (col0 >= n_limit) return;
    const float bg = p.mats[0].m.bias ? __half2float(p.mats[0].m.bias[col0]) : 0.0f;
    const float bu = p.mats[1].m.bias ? __half2float(p.mats[1].m.bias[col0]) : 0.0f;
    __half* out = static_cast<__half*>(p.mats[0].t.out);
#pragma unroll
    for (int r = 0; r < R; ++r)
      out[static_cast<std::size_t>(p.row0 + r) * p.mats[0].t.ld + col0] =
          __float2half_rn(silu(acc[0][r] + bg) * (acc[1][r] + bu));
    return;
  }
  const LaunchMatrix& L = p.mats[mi];
#pragma unroll
  for (int j = 0; j < kColsPerWarp; ++j) {
    const int n = cols[j];
    if (n >= n_limit) continue;
    const float bias = M.bias ? __half2float(M.bias[n]) : 0.0f;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const std::size_t o = static_cast<std::size_t>(p.row0 + r) * L.t.ld + n;
      const float v = acc[j][r] + bias;
      switch (p.output) {
        case QGemvOutput::store_fp32: static_cast<float*>(L.t.out)[o] = v; break;
        case QGemvOutput::store_fp16: static_cast<__half*>(L.t.out)[o] = __float2half_rn(v); break;
        case QGemvOutput::add_fp32: static_cast<float*>(L.t.out)[o] += v; break;
        default: break;
      }
    }
  }
}

template <int R>
int launch(const Params& p, int blocks, cudaStream_t s) {
  return launch_pdl(dgemv_kernel<R>, dim3(blocks), dim3(kThreads), 0, s, p);
}

}  // namespace

int dgemv(const DGemvArgs& a, cudaStream_t stream) {
  if (a.count < 1 || a.count > 3 || a.rows < 1 || a.rows > 32 || !a.x) return cudaErrorInvalidValue;
  const bool pair = a.output == QGemvOutput::silu_mul;
  if (pair && (a.count != 2 || a.m[0].n != a.m[1].n)) return cudaErrorInvalidValue;
  if (a.input == QGemvInput::fp32_rmsnorm && !a.norm_weight) return cudaErrorInvalidValue;
  Params p{};
  p.count = a.count;
  p.x = a.x;
  p.ldx = a.ldx;
  p.norm_weight = a.norm_weight;
  p.eps = a.norm_eps;
  p.output = a.output;
  p.input = a.input;
  int blocks = 0;
  for (int i = 0; i < a.count; ++i) {
    const DMatrix& m = a.m[i];
    if (!m.w || m.k <= 0 || m.n <= 0 || m.k % 8 != 0 || m.k != a.m[0].k || !a.target[i].out ||
        a.target[i].ld < m.n || (reinterpret_cast<std::uintptr_t>(m.w) & 15u) != 0)
      return cudaErrorInvalidValue;
    p.mats[i].m = m;
    p.mats[i].t = a.target[i];
    const int per_block = pair ? kWarps : kColsPerBlock;
    p.mats[i].blocks = (m.n + per_block - 1) / per_block;
    if (!pair || i == 0) blocks += p.mats[i].blocks;
  }
  for (int row0 = 0; row0 < a.rows; row0 += kRowsPerPass) {
    p.row0 = row0;
    const int r = std::min(kRowsPerPass, a.rows - row0);
    int err;
    switch (r) {
      case 1: err = launch<1>(p, blocks, stream); break;
      case 2: err = launch<2>(p, blocks, stream); break;
      case 3: err = launch<3>(p, blocks, stream); break;
      case 4: err = launch<4>(p, blocks, stream); break;
      case 5: err = launch<5>(p, blocks, stream); break;
      case 6: err = launch<6>(p, blocks, stream); break;
      case 7: err = launch<7>(p, blocks, stream); break;
      default: err = launch<8>(p, blocks, stream); break;
    }
    if (err != 0) return err;
  }
  return 0;
}

}  // namespace nibble::kernels
