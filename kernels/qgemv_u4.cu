// Quantized GEMV for the common case where every group is 4-bit and all groups have one
// power-of-two size (GPTQ 4-bit, 4-bit EXL2 layers): the same tiles, splits and epilogue as
// qgemv.cu, but every index is a shift and the products run on tensor cores (mma.m16n8k16: one
// instruction serves up to 8 activation rows). Activations are staged with the codes' nibble
// pairing, odd-numbered rows pre-scaled by 1/16 so their codes need no shift.
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

__device__ __forceinline__ std::uint32_t half2_bits(half2 h) { return *reinterpret_cast<std::uint32_t*>(&h); }

__device__ __forceinline__ std::uint32_t word_of(const uint4& v, int c) {
  return c == 0 ? v.x : (c == 1 ? v.y : (c == 2 ? v.z : v.w));
}

// Position of row o (0..7) of a unit in the staged order [x0 x4 x1 x5 x2 x6 x3 x7].
__device__ __forceinline__ int staged_pos(int o) { return ((o & 3) << 1) | ((o >> 2) & 1); }

template <int R, bool kNorm>
__global__ void __launch_bounds__(kThreads, 2) qgemv_u4_kernel(const __grid_constant__ Params p) {
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
  const int per_warp = ((units + kWarps - 1) / kWarps + 1) & ~1;  // whole unit pairs
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

  // Tensor cores: one mma.m16n8k16 per 16 columns x 16 rows of K (a unit pair) x 8 activation rows.
  // A (16 columns x 16 K) holds q - z dequantized in registers: thread (g, t) of the warp takes nibbles
  // t and t + 4 (one lop3 each, bits 4..7 giving 16 (q - z)); B holds the staged activations in the
  // same K order ([x_t x_t+4] is one 32-bit word of the staging). The A rows of tile j are the columns
  // col(j) + {0, 32} with col(j) = 64 (j / 4) + 4 g + j % 4, so a thread's words for four tiles are
  // one 16-byte load of the slab.
  // Each group is summed unscaled and folded in with its column scales, in fp32. Every activation row
  // is its own B column: a row's result is the same whatever rows share the launch.
  const int g = lane >> 2, t = lane & 3;
  const int shift = (t & 2) ? 8 : 0;
  const std::uint32_t mask = (t & 1) ? 0x00F000F0u : 0x000F000Fu;
  const bool hi = (t & 1) != 0;
  auto col = [g](int j) { return ((j >> 2) << 6) + 4 * g + (j & 3); };
  const bool zeros = M.zeros != nullptr;
  const half2 sym_off = __float2half2_rn(hi ? 1152.0f : 1032.0f);  // 1024 + z (x16 for bits 4..7), z = 8
  const __half* xrow = xs + (g < R ? g : 0) * len + 2 * t;
  float total[8][4];
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int c = 0; c < 4; ++c) total[j][c] = 0.0f;
  int u = u0;
  while (u < u1) {
    const int gl = ((kb + (u << 3)) >> gshift) - sp.x;                   // group (local to the split)
    const int u_end = min(u1, (((sp.x + gl + 1) << gshift) - kb) >> 3);  // first unit of the next group
    half2 off[8][2];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      if (zeros) {
        const float z0 = __half2float(s_zero[gl * kTileN + col(j)]);
        const float z1 = __half2float(s_zero[gl * kTileN + col(j) + 32]);
        off[j][0] = __float2half2_rn(1024.0f + (hi ? 16.0f : 1.0f) * z0);
        off[j][1] = __float2half2_rn(1024.0f + (hi ? 16.0f : 1.0f) * z1);
      } else {
        off[j][0] = off[j][1] = sym_off;
      }
    }
    float acc[8][4];
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[j][c] = 0.0f;
    for (; u < u_end; u += 2) {
      std::uint32_t b0 = *reinterpret_cast<const std::uint32_t*>(xrow + u * 8);
      std::uint32_t b1 = *reinterpret_cast<const std::uint32_t*>(xrow + (u + 1) * 8);
      if (g >= R) b0 = b1 = 0u;
      if (u + 1 >= u_end) b1 = 0u;  // an odd last unit: its pair's second half is not in the slab
      const uint4* w0 = s_w + u * 32;  // unit u: words of columns 4i .. 4i + 3 at [i]
      const uint4* w1 = w0 + 32;
#pragma unroll
      for (int half = 0; half < 2; ++half) {  // tiles 4 half .. 4 half + 3: quarters 2 half and 2 half + 1
        const uint4 p0 = w0[16 * half + g], p1 = w0[16 * half + 8 + g];
        const uint4 r0 = w1[16 * half + g], r1 = w1[16 * half + 8 + g];
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int j = 4 * half + c;
          const half2 a0 = __hsub2(bits_half2(((word_of(p0, c) >> shift) & mask) | 0x64006400u), off[j][0]);
          const half2 a1 = __hsub2(bits_half2(((word_of(p1, c) >> shift) & mask) | 0x64006400u), off[j][1]);
          const half2 a2 = __hsub2(bits_half2(((word_of(r0, c) >> shift) & mask) | 0x64006400u), off[j][0]);
          const half2 a3 = __hsub2(bits_half2(((word_of(r1, c) >> shift) & mask) | 0x64006400u), off[j][1]);
          asm volatile(
              "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
              "{%0,%1,%2,%3};\n"
              : "+f"(acc[j][0]), "+f"(acc[j][1]), "+f"(acc[j][2]), "+f"(acc[j][3])
              : "r"(half2_bits(a0)), "r"(half2_bits(a1)), "r"(half2_bits(a2)), "r"(half2_bits(a3)), "r"(b0), "r"(b1));
        }
      }
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float s0 = __half2float(s_scale[gl * kTileN + col(j)]);
      const float s1 = __half2float(s_scale[gl * kTileN + col(j) + 32]);
      total[j][0] = fmaf(acc[j][0], s0, total[j][0]);
      total[j][1] = fmaf(acc[j][1], s0, total[j][1]);
      total[j][2] = fmaf(acc[j][2], s1, total[j][2]);
      total[j][3] = fmaf(acc[j][3], s1, total[j][3]);
    }
  }
  // Column sums per warp into the reduction buffer (it reuses the slab once every warp is done).
  float* red = reinterpret_cast<float*>(smem_raw);
  __syncthreads();
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int n0 = col(j);
    if (2 * t < R) {
      red[(warp * R + 2 * t) * kTileN + n0] = total[j][0];
      red[(warp * R + 2 * t) * kTileN + n0 + 32] = total[j][2];
    }
    if (2 * t + 1 < R) {
      red[(warp * R + 2 * t + 1) * kTileN + n0] = total[j][1];
      red[(warp * R + 2 * t + 1) * kTileN + n0 + 32] = total[j][3];
    }
  }
  __syncthreads();
  finish_from_red<R>(p, L, tile, split, red, &s_last);
}

template <int R>
int launch(const Params& p, int blocks, std::size_t smem, bool norm, cudaStream_t stream) {
  static SmemGrant granted_norm, granted_plain;
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
