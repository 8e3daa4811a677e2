// Dense GEMV for decode on tensor cores: fp16/bf16 weights in Hugging Face layout [n, k], 1-8
// activation rows per pass. A warp owns 16 weight rows (output columns; for the SiLU pair, 8 gate
// columns and the same 8 up columns) and a share of K, walked in chunks of 32. In a chunk, lane
// (g, t) loads 16 bytes of weight rows g and g + 8 at k + 8t and 16 bytes of activation row g at the
// same k: read as m16n8k16 fragments, those are exactly A and B of two products whose k order is
// permuted alike, so nothing is shuffled. Weights stream from global memory into registers two
// stages ahead of the products, and the first stages are issued before the kernel waits on the
// previous one. The warps of a column group split K and meet in shared memory in a fixed order
// (no atomics: the same sums every launch).
//
// Activations are fp16 operands: an fp16 input is read in place (or copied to shared memory when
// it is not 16-byte addressable); the RMSNorm input is normalised into shared memory and rounded
// to fp16, as transformers rounds it. bf16 weights multiply the exact bf16 hi + lo split of those
// fp16 values (two products), so they keep the same activation precision.
#include "nibble_kernels/dgemv.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "async_copy.cuh"
#include "launch.cuh"
#include "qgemv_common.cuh"
#include "row_reduce.cuh"

namespace nibble::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kStage = 2;       // chunks of 32 k per pipeline stage (1-2 KB per warp in flight per stage)
constexpr int kRowsPerPass = 8; // activation rows: the n8 of the products
constexpr std::size_t kSmemBudget = 96 * 1024;  // staged activations: keeps two blocks per SM

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
  int groups;  // column groups per block (1, 2, 4 or 8); the block's other warps split K
  int ls;      // stride of the staged activation rows, in halves
  bool staged; // activations staged in shared memory (always for the RMSNorm input)
};

// Staged row stride: 64 bytes past a multiple of 128, so the B loads of rows g, g + 1 (a quarter
// warp) fall in distinct banks.
int staged_stride(int k) { return (k + 63) / 64 * 64 + 32; }

__device__ __forceinline__ void mma_bf16(float (&c)[4], std::uint32_t a0, std::uint32_t a1, std::uint32_t a2,
                                         std::uint32_t a3, std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// An fp16 pair as bf16 pairs hi + lo; exact (an fp16 significand has 11 bits, hi keeps 8).
__device__ __forceinline__ void split_bf16(std::uint32_t h2, std::uint32_t& hi, std::uint32_t& lo) {
  half2 h;
  *reinterpret_cast<std::uint32_t*>(&h) = h2;
  const float2 f = __half22float2(h);
  const __nv_bfloat162 bh = __floats2bfloat162_rn(f.x, f.y);
  const float2 fh = __bfloat1622float2(bh);
  const __nv_bfloat162 bl = __floats2bfloat162_rn(f.x - fh.x, f.y - fh.y);
  hi = *reinterpret_cast<const std::uint32_t*>(&bh);
  lo = *reinterpret_cast<const std::uint32_t*>(&bl);
}

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

template <int R, WeightType T>
__global__ void __launch_bounds__(kThreads, 2) dgemv_kernel(const __grid_constant__ Params p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ float s_part[kWarps][R];
  __shared__ float s_rms[R];
  __shared__ float s_acc[kWarps][4][32];
  const bool pair = p.output == QGemvOutput::silu_mul;
  int b = blockIdx.x;
  int mi = 0;
  if (!pair) {
    while (mi + 1 < p.count && b >= p.mats[mi].blocks) {
      b -= p.mats[mi].blocks;
      ++mi;
    }
  }
  const DMatrix& M = p.mats[mi].m;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int kp = kWarps / p.groups;  // warps splitting K in a column group
  const int grp = warp / kp, part = warp - grp * kp;
  const int k = M.k, n = M.n;
  const int chunks = (k + 31) >> 5;
  const int per = (chunks + kp - 1) / kp;
  const int c0 = min(chunks, part * per), c1 = min(chunks, c0 + per);

  // A rows g and g + 8 of the warp's 16: columns col and col + 8, or gate and up column col.
  const int col = (b * p.groups + grp) * (pair ? 8 : 16) + g;
  const bool lo_ok = col < n;
  const bool hi_ok = pair ? lo_ok : col + 8 < n;
  const auto* w0 = static_cast<const std::uint16_t*>(M.w);
  const std::uint16_t* w_lo = w0 + static_cast<std::size_t>(lo_ok ? col : 0) * k + 8 * t;
  const std::uint16_t* w_hi =
      pair ? static_cast<const std::uint16_t*>(p.mats[1].m.w) + static_cast<std::size_t>(lo_ok ? col : 0) * k + 8 * t
           : w0 + static_cast<std::size_t>(hi_ok ? col + 8 : 0) * k + 8 * t;

  const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
  uint4 wa0[kStage], wb0[kStage], xv0[kStage], wa1[kStage], wb1[kStage], xv1[kStage];
  auto fetch_w = [&](uint4 (&wa)[kStage], uint4 (&wb)[kStage], int c) {
#pragma unroll
    for (int i = 0; i < kStage; ++i) {
      const int kk = (c + i) << 5;
      const bool in = c + i < c1 && kk + 8 * t < k;
      wa[i] = in && lo_ok ? load_stream(w_lo + kk) : zero;
      wb[i] = in && hi_ok ? load_stream(w_hi + kk) : zero;
    }
  };
  // Weights do not depend on earlier kernels: two stages go out before the wait.
  fetch_w(wa0, wb0, c0);
  fetch_w(wa1, wb1, c0 + kStage);
  grid_dependency_wait();

  const __half* xb;
  std::size_t xld;
  if (p.staged) {
    __half* xs = reinterpret_cast<__half*>(smem_raw);
    const bool norm = p.input == QGemvInput::fp32_rmsnorm;
    if (norm) {
      float ss[R];
      detail::thread_sum_squares<R, kThreads>(static_cast<const float*>(p.x), static_cast<std::size_t>(p.ldx), p.row0,
                                              k, ss);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float v = ss[r];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) s_part[warp][r] = v;
      }
      __syncthreads();
      if (tid < R) {
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) sum += s_part[w][tid];
        s_rms[tid] = rsqrtf(sum / static_cast<float>(k) + p.eps);
      }
      __syncthreads();
    }
    const int k8 = k >> 3;
    for (int i = tid; i < R * k8; i += kThreads) {
      const int r = i / k8, kk = (i - r * k8) << 3;
      std::uint32_t packed[4];
      if (norm) {
        const float* src = static_cast<const float*>(p.x) + static_cast<std::size_t>(p.row0 + r) * p.ldx + kk;
        const float rms = s_rms[r];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float lo = src[2 * j] * rms * __half2float(p.norm_weight[kk + 2 * j]);
          const float hi = src[2 * j + 1] * rms * __half2float(p.norm_weight[kk + 2 * j + 1]);
          const half2 h = __floats2half2_rn(lo, hi);
          packed[j] = *reinterpret_cast<const std::uint32_t*>(&h);
        }
      } else {
        const auto* src = reinterpret_cast<const std::uint16_t*>(static_cast<const __half*>(p.x)) +
                          static_cast<std::size_t>(p.row0 + r) * p.ldx + kk;
#pragma unroll
        for (int j = 0; j < 4; ++j) packed[j] = static_cast<std::uint32_t>(src[2 * j]) | (static_cast<std::uint32_t>(src[2 * j + 1]) << 16);
      }
      *reinterpret_cast<uint4*>(xs + static_cast<std::size_t>(r) * p.ls + kk) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    }
    __syncthreads();
    xb = xs;
    xld = static_cast<std::size_t>(p.ls);
  } else {
    xb = static_cast<const __half*>(p.x) + static_cast<std::size_t>(p.row0) * p.ldx;
    xld = static_cast<std::size_t>(p.ldx);
  }
  const __half* xrow = xb + (g < R ? g : 0) * xld + 8 * t;
  auto fetch_x = [&](uint4 (&xv)[kStage], int c) {
#pragma unroll
    for (int i = 0; i < kStage; ++i) {
      const int kk = (c + i) << 5;
      const bool in = c + i < c1 && kk + 8 * t < k && g < R;
      xv[i] = in ? *reinterpret_cast<const uint4*>(xrow + kk) : zero;
    }
  };

  // Two accumulators (the two products of a chunk), summed once at the end.
  float acc0[4] = {0.0f, 0.0f, 0.0f, 0.0f}, acc1[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  auto run = [&](const uint4 (&wa)[kStage], const uint4 (&wb)[kStage], const uint4 (&xv)[kStage], int c) {
#pragma unroll
    for (int i = 0; i < kStage; ++i) {
      if (c + i >= c1) break;
      if constexpr (T == WeightType::fp16) {
        detail::mma_16816(acc0, wa[i].x, wb[i].x, wa[i].y, wb[i].y, xv[i].x, xv[i].y);
        detail::mma_16816(acc1, wa[i].z, wb[i].z, wa[i].w, wb[i].w, xv[i].z, xv[i].w);
      } else {
        std::uint32_t h0, l0, h1, l1;
        split_bf16(xv[i].x, h0, l0);
        split_bf16(xv[i].y, h1, l1);
        mma_bf16(acc0, wa[i].x, wb[i].x, wa[i].y, wb[i].y, h0, h1);
        mma_bf16(acc0, wa[i].x, wb[i].x, wa[i].y, wb[i].y, l0, l1);
        split_bf16(xv[i].z, h0, l0);
        split_bf16(xv[i].w, h1, l1);
        mma_bf16(acc1, wa[i].z, wb[i].z, wa[i].w, wb[i].w, h0, h1);
        mma_bf16(acc1, wa[i].z, wb[i].z, wa[i].w, wb[i].w, l0, l1);
      }
    }
  };
  fetch_x(xv0, c0);
  fetch_x(xv1, c0 + kStage);
  for (int c = c0; c < c1; c += 2 * kStage) {
    run(wa0, wb0, xv0, c);
    if (c + kStage >= c1) break;
    fetch_w(wa0, wb0, c + 2 * kStage);
    fetch_x(xv0, c + 2 * kStage);
    run(wa1, wb1, xv1, c + kStage);
    if (c + 2 * kStage >= c1) break;
    fetch_w(wa1, wb1, c + 3 * kStage);
    fetch_x(xv1, c + 3 * kStage);
  }
  // The next kernel may start launching once every block is past its weight stream.
  allow_next_launch();

  float v[4];
#pragma unroll
  for (int e = 0; e < 4; ++e) v[e] = acc0[e] + acc1[e];
  if (kp > 1) {
#pragma unroll
    for (int e = 0; e < 4; ++e) s_acc[warp][e][lane] = v[e];
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float sum = 0.0f;
      for (int j = 0; j < kp; ++j) sum += s_acc[warp + j][e][lane];
      v[e] = sum;
    }
  }
  // Lane (g, t) holds column col (v0, v1) and col + 8 (v2, v3) for activation rows 2t and 2t + 1.
  const int ra = 2 * t, rb = 2 * t + 1;
  if (pair) {
    if (!lo_ok) return;
    const float bg = p.mats[0].m.bias ? __half2float(p.mats[0].m.bias[col]) : 0.0f;
    const float bu = p.mats[1].m.bias ? __half2float(p.mats[1].m.bias[col]) : 0.0f;
    __half* out = static_cast<__half*>(p.mats[0].t.out);
    const std::size_t ld = static_cast<std::size_t>(p.mats[0].t.ld);
    if (ra < R) out[(p.row0 + ra) * ld + col] = __float2half_rn(silu(v[0] + bg) * (v[2] + bu));
    if (rb < R) out[(p.row0 + rb) * ld + col] = __float2half_rn(silu(v[1] + bg) * (v[3] + bu));
    return;
  }
  const LaunchMatrix& L = p.mats[mi];
  auto put = [&](int c, int r, float y) {
    if (M.bias) y += __half2float(M.bias[c]);
    const std::size_t o = static_cast<std::size_t>(p.row0 + r) * L.t.ld + c;
    switch (p.output) {
      case QGemvOutput::store_fp32: static_cast<float*>(L.t.out)[o] = y; break;
      case QGemvOutput::store_fp16: static_cast<__half*>(L.t.out)[o] = __float2half_rn(y); break;
      case QGemvOutput::add_fp32: static_cast<float*>(L.t.out)[o] += y; break;
      default: break;
    }
  };
  if (lo_ok) {
    if (ra < R) put(col, ra, v[0]);
    if (rb < R) put(col, rb, v[1]);
  }
  if (hi_ok) {
    if (ra < R) put(col + 8, ra, v[2]);
    if (rb < R) put(col + 8, rb, v[3]);
  }
}

using KernelFn = void (*)(Params);

template <WeightType T>
KernelFn kernel_for(int r) {
  switch (r) {
    case 1: return dgemv_kernel<1, T>;
    case 2: return dgemv_kernel<2, T>;
    case 3: return dgemv_kernel<3, T>;
    case 4: return dgemv_kernel<4, T>;
    case 5: return dgemv_kernel<5, T>;
    case 6: return dgemv_kernel<6, T>;
    case 7: return dgemv_kernel<7, T>;
    default: return dgemv_kernel<8, T>;
  }
}

// The kernel for r rows with its shared-memory opt-in raised to smem on the current GPU.
int prepare(int r, WeightType type, std::size_t smem, KernelFn& fn) {
  static detail::SmemGrant grants[2][kRowsPerPass];
  const bool bf = type == WeightType::bf16;
  fn = bf ? kernel_for<WeightType::bf16>(r) : kernel_for<WeightType::fp16>(r);
  return detail::ensure_smem(fn, smem, grants[bf ? 1 : 0][std::clamp(r, 1, kRowsPerPass) - 1]);
}

// Comparison kernel (per-row FMAs), selected with NIBBLE_DGEMV_FMA=1 for A/B runs.
namespace fma {
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

int run(const DGemvArgs& a, cudaStream_t stream) {
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

}  // namespace fma

}  // namespace

int dgemv(const DGemvArgs& a, cudaStream_t stream) {
  static const bool use_fma = [] {
    const char* v = std::getenv("NIBBLE_DGEMV_FMA");
    return v && v[0] == '1';
  }();
  if (use_fma) return fma::run(a, stream);
  if (a.count < 1 || a.count > 3 || a.rows < 1 || a.rows > 32 || !a.x || a.ldx < a.m[0].k) return cudaErrorInvalidValue;
  const bool pair = a.output == QGemvOutput::silu_mul;
  if (pair && (a.count != 2 || a.m[0].n != a.m[1].n)) return cudaErrorInvalidValue;
  const bool norm = a.input == QGemvInput::fp32_rmsnorm;
  if (norm && !a.norm_weight) return cudaErrorInvalidValue;
  Params p{};
  p.count = a.count;
  p.x = a.x;
  p.ldx = a.ldx;
  p.norm_weight = a.norm_weight;
  p.eps = a.norm_eps;
  p.output = a.output;
  p.input = a.input;
  const WeightType type = a.m[0].type;
  for (int i = 0; i < a.count; ++i) {
    const DMatrix& m = a.m[i];
    if (!m.w || m.k <= 0 || m.n <= 0 || m.k % 8 != 0 || m.k != a.m[0].k || m.type != type || !a.target[i].out ||
        a.target[i].ld < m.n || (reinterpret_cast<std::uintptr_t>(m.w) & 15u) != 0)
      return cudaErrorInvalidValue;
    p.mats[i].m = m;
    p.mats[i].t = a.target[i];
  }
  const int k = a.m[0].k;
  // An fp16 input is read in place when every row's 16-byte pieces are addressable.
  p.staged = norm || (reinterpret_cast<std::uintptr_t>(a.x) & 15u) != 0 || a.ldx % 8 != 0;
  p.ls = staged_stride(k);
  const std::size_t row_bytes = static_cast<std::size_t>(p.ls) * 2;
  int pass_rows = kRowsPerPass;
  if (p.staged) {
    const DeviceInfo d = device_info();
    const std::size_t budget = std::min(kSmemBudget, d.smem_optin > 8192 ? d.smem_optin - 8192 : 0);
    pass_rows = static_cast<int>(std::min<std::size_t>(kRowsPerPass, budget / row_bytes));
    if (pass_rows < 1) return cudaErrorInvalidValue;  // k too large to stage one row
  }
  // Column groups per block: whole waves of resident blocks used best (a partial last wave runs
  // latency-bound), the most groups (activations read once for more columns) within 5% of that.
  const int per_group = pair ? 8 : 16;
  auto blocks_for = [&](int groups) {
    int total = 0;
    for (int i = 0; i < (pair ? 1 : a.count); ++i) {
      const int cols = groups * per_group;
      total += (a.m[i].n + cols - 1) / cols;
    }
    return total;
  };
  const int first_rows = std::min(pass_rows, a.rows);
  const std::size_t first_smem = p.staged ? row_bytes * first_rows : 0;
  KernelFn fn = nullptr;
  if (const int e = prepare(first_rows, type, first_smem, fn)) return e;
  int per_sm = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, kThreads, first_smem) != cudaSuccess || per_sm < 1) {
    cudaGetLastError();
    per_sm = 1;
  }
  const int slots = std::max(1, device_info().sms) * per_sm;
  double best = -1.0;
  p.groups = 1;
  for (int groups : {8, 4, 2, 1}) {
    const int b = blocks_for(groups);
    const int waves = (b + slots - 1) / slots;
    const double use = static_cast<double>(b) / (static_cast<double>(waves) * slots);
    if (use > best + 0.05) {
      best = use;
      p.groups = groups;
    }
  }
  int blocks = 0;
  for (int i = 0; i < a.count; ++i) {
    const int cols = p.groups * per_group;
    p.mats[i].blocks = (a.m[i].n + cols - 1) / cols;
    if (!pair || i == 0) blocks += p.mats[i].blocks;
  }
  for (int row0 = 0; row0 < a.rows; row0 += pass_rows) {
    p.row0 = row0;
    const int r = std::min(pass_rows, a.rows - row0);
    const std::size_t smem = p.staged ? row_bytes * r : 0;
    if (const int e = prepare(r, type, smem, fn)) return e;
    const int err = launch_pdl(fn, dim3(blocks), dim3(kThreads), smem, stream, p);
    if (err != 0) return err;
  }
  return 0;
}

}  // namespace nibble::kernels
