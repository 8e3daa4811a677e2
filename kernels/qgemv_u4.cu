// Quantized GEMV for the common case where every group is 4-bit and all groups have one
// power-of-two size (GPTQ 4-bit, 4-bit EXL2 layers): the same tiles, splits and epilogue as
// qgemv.cu, but every index is a shift and each unit (8 rows, one word per column) decodes with
// one shift, four lop3, four hsub2 and four hfma2 per column. Activations are staged with the
// codes' nibble pairing, odd-numbered rows pre-scaled by 1/16 so their codes need no shift.
// The block's whole weight slab (split rows x 128 columns) is fetched into shared memory with
// cp.async before the block waits on the previous kernel, so every byte is in flight at once
// (one memory round trip per block instead of one per prefetch stage).
#include <cuda_fp16.h>

#include <atomic>
#include <cstdint>

#include "launch.cuh"
#include "qgemv_common.cuh"
#include "row_reduce.cuh"

namespace nibble::kernels::detail {
namespace {

__device__ __forceinline__ half2 bits_half2(std::uint32_t v) {
  half2 h;
  *reinterpret_cast<std::uint32_t*>(&h) = v;
  return h;
}

__device__ __forceinline__ std::uint32_t word_of(const uint4& v, int c) {
  return c == 0 ? v.x : (c == 1 ? v.y : (c == 2 ? v.z : v.w));
}

// Position of row o (0..7) of a unit in the staged order [x0 x4 x1 x5 x2 x6 x3 x7].
__device__ __forceinline__ int staged_pos(int o) { return ((o & 3) << 1) | ((o >> 2) & 1); }

template <int R>
__device__ __forceinline__ void unit_step(const uint4& raw, const __half* xs, int len, int u, const __half* scale,
                                          const __half* zero, float (&tot)[R][4]) {
  half2 xv[R][4];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const uint4 q = *reinterpret_cast<const uint4*>(xs + r * len + u * 8);
    xv[r][0] = bits_half2(q.x);
    xv[r][1] = bits_half2(q.y);
    xv[r][2] = bits_half2(q.z);
    xv[r][3] = bits_half2(q.w);
  }
  const uint2 sraw = *reinterpret_cast<const uint2*>(scale);
  const __half* sh = reinterpret_cast<const __half*>(&sraw);
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    half2 lo_off, hi_off;  // 1024 + z for nibbles in bits 0..3, 1024 + 16 z for bits 4..7
    if (zero) {
      const float z = __half2float(zero[c]);
      lo_off = __float2half2_rn(1024.0f + z);
      hi_off = __float2half2_rn(1024.0f + 16.0f * z);
    } else {
      lo_off = __float2half2_rn(1032.0f);
      hi_off = __float2half2_rn(1152.0f);
    }
    const std::uint32_t w = word_of(raw, c);
    const std::uint32_t w2 = w >> 8;
    const half2 h0 = __hsub2(bits_half2((w & 0x000F000Fu) | 0x64006400u), lo_off);
    const half2 h1 = __hsub2(bits_half2((w & 0x00F000F0u) | 0x64006400u), hi_off);
    const half2 h2 = __hsub2(bits_half2((w2 & 0x000F000Fu) | 0x64006400u), lo_off);
    const half2 h3 = __hsub2(bits_half2((w2 & 0x00F000F0u) | 0x64006400u), hi_off);
    const float s = __half2float(sh[c]);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      half2 a = __hmul2(h0, xv[r][0]);
      a = __hfma2(h1, xv[r][1], a);
      a = __hfma2(h2, xv[r][2], a);
      a = __hfma2(h3, xv[r][3], a);
      tot[r][c] = fmaf(__low2float(a) + __high2float(a), s, tot[r][c]);
    }
  }
}

template <int R, bool kNorm>
__global__ void __launch_bounds__(kThreads, R <= 2 ? 2 : 1) qgemv_u4_kernel(const __grid_constant__ Params p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ float s_rms[R];
  __shared__ float s_red[kWarps][R];
  __shared__ bool s_last;

  int b = blockIdx.x;
  int mi = 0;
  while (mi + 1 < p.count && b >= p.mats[mi].blocks) {
    b -= p.mats[mi].blocks;
    ++mi;
  }
  const LaunchMatrix& L = p.mats[mi];
  const QMatrix& M = L.m;
  const int tile = b % L.tiles;
  const int split = b / L.tiles;
  const int2 sp = M.splits[split];
  const int gshift = M.group_shift;
  const int kb = sp.x << gshift;
  const int len = min(sp.y << gshift, M.k) - kb;
  const int ng = sp.y - sp.x;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int units = len >> 3;
  const int per_warp = (units + kWarps - 1) / kWarps;
  const int u0 = min(units, warp * per_warp);
  const int u1 = min(units, u0 + per_warp);

  const std::size_t slab_bytes = slab_smem_bytes(p.max_words, R);
  uint4* s_w = reinterpret_cast<uint4*>(smem_raw);  // [units][32]: one word of each of the tile's 128 columns
  __half* xs = reinterpret_cast<__half*>(smem_raw + slab_bytes);
  __half* s_scale = xs + static_cast<std::size_t>(R) * p.max_len;
  __half* s_zero = s_scale + p.max_groups * kTileN;

  allow_next_launch();
  // The weight slab, then scales (and zero points): no dependence on earlier kernels.
  fetch_slab(s_w, M.q_weight, M.n_pad, tile, kb >> 3, (kb >> 3) + units);
  detail::stage_scales(M, sp.x, ng, tile, s_scale, s_zero);

  grid_dependency_wait();  // activations and the workspace belong to earlier kernels
  if constexpr (kNorm) {
    if (p.ss_in) {  // the producing GEMV left the row statistics
      if (warp == 0) {
        float rms[R];
        detail::rms_from_partials<R>(p, M.k, rms);
        if (lane == 0)
#pragma unroll
          for (int r = 0; r < R; ++r) s_rms[r] = rms[r];
      }
      __syncthreads();
    } else {
      float ss[R];
      thread_sum_squares<R, kThreads>(static_cast<const float*>(p.x), static_cast<std::size_t>(p.ldx), p.row0, M.k, ss);
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
#pragma unroll
        for (int w = 0; w < kWarps; ++w) t += s_red[w][tid];
        s_rms[tid] = rsqrtf(t / static_cast<float>(M.k) + p.eps);
      }
      __syncthreads();
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll 4
    for (int o = tid; o < len; o += kThreads) {
      const int k = kb + o;
      const int src = M.perm ? M.perm[k] : k;
      float v;
      if constexpr (kNorm) {
        v = static_cast<const float*>(p.x)[static_cast<std::size_t>(p.row0 + r) * p.ldx + src] * s_rms[r] *
            __half2float(p.norm_weight[src]);
      } else {
        v = __half2float(static_cast<const __half*>(p.x)[static_cast<std::size_t>(p.row0 + r) * p.ldx + src]);
      }
      if (o & 1) v *= 0.0625f;  // odd nibbles (rows 1, 3, 5, 7 of a unit) are decoded 16x larger
      xs[r * len + (o & ~7) + staged_pos(o & 7)] = __float2half_rn(v);
    }
  }
  cp_async_wait_all();
  __syncthreads();

  float tot[R][4];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) tot[r][c] = 0.0f;
  const bool zeros = M.zeros != nullptr;
#pragma unroll 4
  for (int u = u0; u < u1; ++u) {
    const int g = ((kb + (u << 3)) >> gshift) - sp.x;
    unit_step<R>(s_w[u * 32 + lane], xs, len, u, s_scale + g * kTileN + lane * 4,
                 zeros ? s_zero + g * kTileN + lane * 4 : nullptr, tot);
  }
  // finish_tile reuses the slab (sized for its reduction buffer) once every warp is past its loop.
  finish_tile<R>(p, L, tile, split, tot, reinterpret_cast<float*>(smem_raw), &s_last);
}

template <int R>
int launch(const Params& p, int blocks, std::size_t smem, bool norm, cudaStream_t stream) {
  static std::atomic<std::size_t> granted_norm{0}, granted_plain{0};
  if (norm) {
    if (const int e = ensure_smem(qgemv_u4_kernel<R, true>, smem, granted_norm)) return e;
    return launch_pdl(qgemv_u4_kernel<R, true>, dim3(blocks), dim3(kThreads), smem, stream, p);
  }
  if (const int e = ensure_smem(qgemv_u4_kernel<R, false>, smem, granted_plain)) return e;
  return launch_pdl(qgemv_u4_kernel<R, false>, dim3(blocks), dim3(kThreads), smem, stream, p);
}

}  // namespace

int launch_u4(int r, const Params& p, int blocks, std::size_t smem, bool norm, cudaStream_t stream) {
  switch (r) {
    case 1: return launch<1>(p, blocks, smem, norm, stream);
    case 2: return launch<2>(p, blocks, smem, norm, stream);
    case 3: return launch<3>(p, blocks, smem, norm, stream);
    case 4: return launch<4>(p, blocks, smem, norm, stream);
    case 5: return launch<5>(p, blocks, smem, norm, stream);
    case 6: return launch<6>(p, blocks, smem, norm, stream);
    case 7: return launch<7>(p, blocks, smem, norm, stream);
    default: return launch<8>(p, blocks, smem, norm, stream);
  }
}

}  // namespace nibble::kernels::detail
