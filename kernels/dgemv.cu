// Dense GEMV for decode on tensor cores: fp16/bf16 weights in Hugging Face layout [n, k], 1-8
// activation rows per pass. A warp owns 16 weight rows (output columns; for the SiLU pair, 8 gate
// columns and the same 8 up columns) and a share of K, walked in chunks of 32. In a chunk, lane
// (g, t) loads 16 bytes of weight rows g and g + 8 at k + 8t and 16 bytes of activation row g at the
// same k: read as m16n8k16 fragments, those are exactly A and B of two products whose k order is
// permuted alike, so nothing is shuffled. Weights stream from global memory into registers two
// stages ahead of the products, and the first stages are issued before the kernel waits on the
// previous one. A block's 8 warps split K and meet in shared memory in a fixed order (no atomics:
// the same sums every launch). Blocks are persistent (as many as are resident at once): each
// walks units of 16 weight rows, stages the activations once, and issues the next unit's first
// weight stages before the current unit's epilogue.
//
// Activations are fp16 operands: an fp16 input is read in place (or copied to shared memory when
// it is not 16-byte addressable); the RMSNorm input is normalised into shared memory and rounded
// to fp16, as transformers rounds it. bf16 weights multiply the exact bf16 hi + lo split of those
// fp16 values (two products), so they keep the same activation precision.
#include "nibble_kernels/dgemv.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

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
  int blocks;  // units (16 weight rows, 8 for the SiLU pair)
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
  int units;   // units of 16 weight rows (8 for the SiLU pair) over all matrices
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

// One unit of work: 16 weight rows of matrix mi (or 8 gate + the same 8 up rows) over all of K.
struct Unit {
  int mi = 0;
  int col = 0;  // output column of A row g (lane's group); A row g + 8 is col + 8, or up column col
  bool lo_ok = false, hi_ok = false;
  const std::uint16_t* w_lo = nullptr;  // lane's first weight element in A rows g / g + 8
  const std::uint16_t* w_hi = nullptr;
};

__device__ __forceinline__ Unit unit_at(const Params& p, int u, bool pair, int g, int t) {
  Unit un;
  if (!pair)
    while (un.mi + 1 < p.count && u >= p.mats[un.mi].blocks) {
      u -= p.mats[un.mi].blocks;
      ++un.mi;
    }
  const DMatrix& M = p.mats[un.mi].m;
  const int k = M.k;
  un.col = u * (pair ? 8 : 16) + g;
  un.lo_ok = un.col < M.n;
  un.hi_ok = pair ? un.lo_ok : un.col + 8 < M.n;
  const auto* w0 = static_cast<const std::uint16_t*>(M.w);
  un.w_lo = w0 + static_cast<std::size_t>(un.lo_ok ? un.col : 0) * k + 8 * t;
  un.w_hi = pair ? static_cast<const std::uint16_t*>(p.mats[1].m.w) + static_cast<std::size_t>(un.lo_ok ? un.col : 0) * k + 8 * t
                 : w0 + static_cast<std::size_t>(un.hi_ok ? un.col + 8 : 0) * k + 8 * t;
  return un;
}

// Persistent blocks: block b takes units b, b + gridDim.x, ...; the activations are staged once per
// block, and the next unit's first weight stages are issued before this unit's epilogue.
template <int R, WeightType T>
__global__ void __launch_bounds__(kThreads, 2) dgemv_kernel(const __grid_constant__ Params p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ float s_part[kWarps][R];
  __shared__ float s_rms[R];
  __shared__ float s_acc[kWarps][4][32];
  const bool pair = p.output == QGemvOutput::silu_mul;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int k = p.mats[0].m.k;
  const int chunks = (k + 31) >> 5;
  const int per = (chunks + kWarps - 1) / kWarps;  // the block's warps split K
  const int c0 = min(chunks, warp * per), c1 = min(chunks, c0 + per);
  int u = blockIdx.x;
  if (u >= p.units) return;
  Unit cur = unit_at(p, u, pair, g, t);

  const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
  uint4 wa0[kStage], wb0[kStage], xv0[kStage], wa1[kStage], wb1[kStage], xv1[kStage];
  auto fetch_w = [&](const Unit& un, uint4 (&wa)[kStage], uint4 (&wb)[kStage], int c) {
#pragma unroll
    for (int i = 0; i < kStage; ++i) {
      const int kk = (c + i) << 5;
      const bool in = c + i < c1 && kk + 8 * t < k;
      wa[i] = in && un.lo_ok ? load_stream(un.w_lo + kk) : zero;
      wb[i] = in && un.hi_ok ? load_stream(un.w_hi + kk) : zero;
    }
  };
  // Weights do not depend on earlier kernels: two stages go out before the wait.
  fetch_w(cur, wa0, wb0, c0);
  fetch_w(cur, wa1, wb1, c0 + kStage);
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

  for (;;) {
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
      fetch_w(cur, wa0, wb0, c + 2 * kStage);
      fetch_x(xv0, c + 2 * kStage);
      run(wa1, wb1, xv1, c + kStage);
      if (c + 2 * kStage >= c1) break;
      fetch_w(cur, wa1, wb1, c + 3 * kStage);
      fetch_x(xv1, c + 3 * kStage);
    }
    // The next unit's first stages go out before this unit's epilogue; after the block's last unit
    // the next kernel may start launching.
    const int u_next = u + static_cast<int>(gridDim.x);
    const bool more = u_next < p.units;
    Unit nxt;
    if (more) {
      nxt = unit_at(p, u_next, pair, g, t);
      fetch_w(nxt, wa0, wb0, c0);
      fetch_w(nxt, wa1, wb1, c0 + kStage);
    } else {
      allow_next_launch();
    }

    float v[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      v[e] = acc0[e] + acc1[e];
      s_acc[warp][e][lane] = v[e];
    }
    __syncthreads();
    if (warp == 0) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < kWarps; ++j) sum += s_acc[j][e][lane];
        v[e] = sum;
      }
      // Lane (g, t) holds column col (v0, v1) and col + 8 (v2, v3) for activation rows 2t and 2t + 1.
      const int ra = 2 * t, rb = 2 * t + 1;
      const int col = cur.col;
      if (pair) {
        if (cur.lo_ok) {
          const float bg = p.mats[0].m.bias ? __half2float(p.mats[0].m.bias[col]) : 0.0f;
          const float bu = p.mats[1].m.bias ? __half2float(p.mats[1].m.bias[col]) : 0.0f;
          __half* out = static_cast<__half*>(p.mats[0].t.out);
          const std::size_t ld = static_cast<std::size_t>(p.mats[0].t.ld);
          if (ra < R) out[(p.row0 + ra) * ld + col] = __float2half_rn(silu(v[0] + bg) * (v[2] + bu));
          if (rb < R) out[(p.row0 + rb) * ld + col] = __float2half_rn(silu(v[1] + bg) * (v[3] + bu));
        }
      } else {
        const LaunchMatrix& L = p.mats[cur.mi];
        auto put = [&](int c, int r, float y) {
          if (L.m.bias) y += __half2float(L.m.bias[c]);
          const std::size_t o = static_cast<std::size_t>(p.row0 + r) * L.t.ld + c;
          switch (p.output) {
            case QGemvOutput::store_fp32: static_cast<float*>(L.t.out)[o] = y; break;
            case QGemvOutput::store_fp16: static_cast<__half*>(L.t.out)[o] = __float2half_rn(y); break;
            case QGemvOutput::add_fp32: static_cast<float*>(L.t.out)[o] += y; break;
            default: break;
          }
        };
        if (cur.lo_ok) {
          if (ra < R) put(col, ra, v[0]);
          if (rb < R) put(col, rb, v[1]);
        }
        if (cur.hi_ok) {
          if (ra < R) put(col + 8, ra, v[2]);
          if (rb < R) put(col + 8, rb, v[3]);
        }
      }
    }
    if (!more) break;
    __syncthreads();  // warp 0 has read s_acc before the next unit writes it
    u = u_next;
    cur = nxt;
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

}  // namespace

int dgemv(const DGemvArgs& a, cudaStream_t stream) {
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
  // Units per matrix; persistent blocks, as many as are resident at once.
  const int per_unit = pair ? 8 : 16;
  p.units = 0;
  for (int i = 0; i < a.count; ++i) {
    p.mats[i].blocks = (a.m[i].n + per_unit - 1) / per_unit;
    if (!pair || i == 0) p.units += p.mats[i].blocks;
  }
  const int first_rows = std::min(pass_rows, a.rows);
  const std::size_t first_smem = p.staged ? row_bytes * first_rows : 0;
  KernelFn fn = nullptr;
  if (const int e = prepare(first_rows, type, first_smem, fn)) return e;
  int per_sm = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, kThreads, first_smem) != cudaSuccess || per_sm < 1) {
    cudaGetLastError();
    per_sm = 1;
  }
  const int blocks = std::min(p.units, std::max(1, device_info().sms) * per_sm);
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
