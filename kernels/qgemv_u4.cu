// Quantized GEMV for the common case where every group is 4-bit and all groups have one
// power-of-two size >= 32 (GPTQ 4-bit, 4-bit EXL2 layers): the same splits, scale tables and
// epilogue as qgemv.cu, every index a shift, and the products on tensor cores (mma.m16n8k16: one
// instruction serves up to 8 activation rows).
//
// Weights stream from global memory straight into registers: no shared-memory slab. A warp owns
// 64 columns of the block's 128 and a quarter of its split along K, walked in chunks of 32 rows
// (four int32 word rows). In a chunk, lane (g, t) loads word row t of columns 4g .. 4g+3 and
// 32+4g .. 32+4g+3 (two 16-byte loads; the 8 lanes of one t read 128 contiguous bytes), and each
// of its words is the whole A fragment of one column for two k16 products: the K order inside the
// products is chosen so that a lane's eight codes are exactly the eight rows it multiplies
// (codes (0,4), (1,5), (2,6), (3,7) of a word pair up in the fp16 halves, with the activations
// staged in that order and the odd codes' activations pre-scaled by 1/16). Loads run one stage
// ahead of the products, and the first stage is issued before the kernel waits on the previous
// one, so the weight stream overlaps the activation staging and the previous kernel's tail.
#include <cuda_fp16.h>

#include <atomic>
#include <cstdint>

#include "async_copy.cuh"
#include "launch.cuh"
#include "qgemv_common.cuh"
#include "row_reduce.cuh"

namespace nibble::kernels::detail {
namespace {

// Two chunks per pipeline stage (64 bytes per lane in flight while the previous stage is used) and
// registers for three blocks per SM: measured best among 1-4 chunk stages at 2-4 blocks per SM, and
// ahead of a shared-memory cp.async ring of 6-8 chunks per warp (see docs/PERF.md). For 2-8 rows
// the cap spills a few words of the prologue, still faster than two blocks per SM (8 and 16 jobs:
// 1,462 / 1,586 against 1,298 / 1,380 tok/s).
constexpr int kStage = 2;
constexpr int kMinBlocks = 3;


// Position of row o (0..7) of a word in the staged order [x0 x4 x1 x5 x2 x6 x3 x7].
__device__ __forceinline__ int staged_pos(int o) { return ((o & 3) << 1) | ((o >> 2) & 1); }


// Codes (0,4) / (1,5) of a word as fp16 pairs 1024 + q / 1024 + 16 q: one LOP3 each. The 1024 and
// the zero point are taken off once per group (see the correction below), not per code.
__device__ __forceinline__ std::uint32_t lo_pair(std::uint32_t w) { return (w & 0x000F000Fu) | 0x64006400u; }
__device__ __forceinline__ std::uint32_t hi_pair(std::uint32_t w) { return (w & 0x00F000F0u) | 0x64006400u; }

template <int R, bool kNorm>
__global__ void __launch_bounds__(kThreads, kMinBlocks) qgemv_u4_kernel(const __grid_constant__ Params p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ float s_rms[R];
  __shared__ float s_red[kWarps][R];
  __shared__ bool s_last;

  const BlockPlace place = place_block(p);
  const int mi = place.mi, tile = place.tile, split = place.split;
  const LaunchMatrix& L = p.mats[mi];
  const QMatrix& M = L.m;
  const int2 sp = M.splits[split];
  const int gshift = M.group_shift;
  const int kb = sp.x << gshift;
  const int len = min(sp.y << gshift, M.k) - kb;  // a multiple of 32 (whole groups of >= 32 rows)
  const int ng = sp.y - sp.x;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int half = warp & 1;  // columns 64 half .. 64 half + 63 of the tile
  const int chunks = len >> 5;
  const int group_chunks = 1 << (gshift - 5);  // warps take whole groups (the correction is per group)
  const int per_warp = ((chunks + kWarps / 2 - 1) / (kWarps / 2) + group_chunks - 1) & ~(group_chunks - 1);
  const int c0 = min(chunks, (warp >> 1) * per_warp);
  const int c1 = min(chunks, c0 + per_warp);
  const int g = lane >> 2, t = lane & 3;

  // The staged activations (R rows of len halves at a stride of ls), reused by the epilogue's
  // reduction buffer. The padding puts row g's 16-byte pieces 4 bank groups (mod 8) after row g - 1's,
  // so a quarter warp's B-fragment loads (rows g, g + 1; pieces t = 0..3) hit 8 distinct groups.
  __half* xs = reinterpret_cast<__half*>(smem_raw);
  const int ls = u4_staged_stride(len);
  const std::size_t xs_bytes = static_cast<std::size_t>(R) * (p.max_len + kU4StagedPad) * 2;
  const std::size_t red_bytes = static_cast<std::size_t>(kWarps) * R * kTileN * 4;
  __half* s_scale = reinterpret_cast<__half*>(smem_raw + (xs_bytes > red_bytes ? xs_bytes : red_bytes));
  __half* s_zero = s_scale + p.max_groups * kTileN;
  float* s_corr = reinterpret_cast<float*>(s_zero + (M.zeros ? p.max_groups * kTileN : 0));  // [R][ng][2]
  // With p.prefetch: each staged row's source index (permutation) and norm weight, [len] each.
  std::uint16_t* s_src = reinterpret_cast<std::uint16_t*>(s_corr + 2 * R * p.max_groups);
  __half* s_nw = reinterpret_cast<__half*>(s_src + p.max_len);

  // Lane's words: row 4c + t of the split, columns 4g .. 4g + 3 (segment A) and 32 + 4g .. (B).
  const uint4* wp = reinterpret_cast<const uint4*>(M.q_weight + static_cast<std::size_t>((kb >> 3) + t) * M.n_pad +
                                                   tile * kTileN + half * 64 + 4 * g);
  const std::size_t chunk_stride = static_cast<std::size_t>(M.n_pad);  // 4 word rows, in uint4
  uint4 wa0[kStage], wb0[kStage], wa1[kStage], wb1[kStage];
  auto fetch = [&](uint4 (&wa)[kStage], uint4 (&wb)[kStage], int c) {
#pragma unroll
    for (int i = 0; i < kStage; ++i) {
      if (c + i < c1) {
        const uint4* q = wp + static_cast<std::size_t>(c + i) * chunk_stride;
        wa[i] = load_stream(q);
        wb[i] = load_stream(q + 8);
      }
    }
  };

  // Weights, scales and zero points do not depend on earlier kernels: start them first.
  fetch(wa0, wb0, c0);
  detail::stage_scales(M, sp.x, ng, tile, s_scale, s_zero);
  // Nor do the staging sources and norm weights: each lane looks up the rows it stages below (same
  // lane, same rows, so no barrier), and the staging after the wait only loads the activations.
  if (p.prefetch) {
    for (int gl = warp; gl < ng; gl += kWarps) {
#pragma unroll 4
      for (int o = (gl << gshift) + lane; o < ((gl + 1) << gshift); o += 32) {
        const int src = M.perm ? M.perm[kb + o] : kb + o;
        s_src[o] = static_cast<std::uint16_t>(src);
        if constexpr (kNorm) s_nw[o] = p.norm_weight[src];
      }
    }
  }

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
        float tsum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) tsum += s_red[w][tid];
        s_rms[tid] = rsqrtf(tsum / static_cast<float>(M.k) + p.eps);
      }
      __syncthreads();
    }
  }
  // Staging, one warp per group: each lane takes every 32nd row of the group for all R rows (up to
  // 4R independent loads in flight), writes them in the staged order and sums them for the group's
  // correction. The products see a = 1024 + q at even rows (activation v = x) and 1024 + 16 q at odd
  // rows (v = x / 16), so a group's sum of a v is sum (q - z) x + 1024 E + z F with E = sum v and
  // F = sum x (= even v + 16 odd v) over the staged fp16 values; the fold subtracts 1024 E + z F.
  // Lane-strided partial sums and a fixed shuffle tree: the same order every launch.
  for (int gl = warp; gl < ng; gl += kWarps) {
    float e[R], f[R];
#pragma unroll
    for (int r = 0; r < R; ++r) e[r] = f[r] = 0.0f;
#pragma unroll 4
    for (int o = (gl << gshift) + lane; o < ((gl + 1) << gshift); o += 32) {
      int src;
      float nw = 1.0f;
      if (p.prefetch) {
        src = s_src[o];
        if constexpr (kNorm) nw = __half2float(s_nw[o]);
      } else {
        src = M.perm ? M.perm[kb + o] : kb + o;
        if constexpr (kNorm) nw = __half2float(p.norm_weight[src]);
      }
      const int dst = (o & ~7) + staged_pos(o & 7);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float v;
        if constexpr (kNorm) {
          v = static_cast<const float*>(p.x)[static_cast<std::size_t>(p.row0 + r) * p.ldx + src] * s_rms[r] * nw;
        } else {
          v = __half2float(static_cast<const __half*>(p.x)[static_cast<std::size_t>(p.row0 + r) * p.ldx + src]);
        }
        if (o & 1) v *= 0.0625f;  // odd codes are decoded 16x larger
        const __half h = __float2half_rn(v);
        xs[r * ls + dst] = h;
        const float hv = __half2float(h);
        e[r] += hv;
        f[r] += (o & 1) ? 16.0f * hv : hv;
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int s = 16; s > 0; s >>= 1) {
        e[r] += __shfl_xor_sync(0xffffffffu, e[r], s);
        f[r] += __shfl_xor_sync(0xffffffffu, f[r], s);
      }
      if (lane == 0) {
        s_corr[2 * (r * ng + gl)] = 1024.0f * e[r];
        s_corr[2 * (r * ng + gl) + 1] = f[r];
      }
    }
  }
  __syncthreads();

  // Tile j (0..3) of the warp is the 16 columns {4i + j, 32 + 4i + j : i < 8} of its 64: A row g is
  // column 4g + j (word j of segment A), row g + 8 column 32 + 4g + j (word j of segment B). The
  // accumulator's c0, c1 are column 4g + j for activation rows 2t, 2t + 1; c2, c3 column 32 + 4g + j.
  const int colA = half * 64 + 4 * g;  // within the 128-column tile, + j
  const bool zeros = M.zeros != nullptr;
  const __half* xrow = xs + (g < R ? g : 0) * ls + 8 * t;
  const int gmask = (1 << gshift) - 1;
  const int r0 = min(2 * t, R - 1), r1 = min(2 * t + 1, R - 1);  // this lane's accumulator rows
  float acc[4][4], total[4][4];
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int c = 0; c < 4; ++c) acc[j][c] = total[j][c] = 0.0f;
  auto chunk = [&](const uint4& a, const uint4& bq, int c) {
    uint4 xv = *reinterpret_cast<const uint4*>(xrow + (c << 5));
    if (g >= R) xv = make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const std::uint32_t w0 = word_of(a, j), w1 = word_of(bq, j);
      mma_16816(acc[j], lo_pair(w0), lo_pair(w1), hi_pair(w0), hi_pair(w1), xv.x, xv.y);
      mma_16816(acc[j], lo_pair(w0 >> 8), lo_pair(w1 >> 8), hi_pair(w0 >> 8), hi_pair(w1 >> 8), xv.z, xv.w);
    }
    const int k_next = kb + ((c + 1) << 5);
    if ((k_next & gmask) == 0 || c + 1 == c1) {  // the group ends: correct it, fold it in with its scales
      const int gl = ((k_next - 1) >> gshift) - sp.x;
      const float e0 = s_corr[2 * (r0 * ng + gl)], f0 = s_corr[2 * (r0 * ng + gl) + 1];
      const float e1 = s_corr[2 * (r1 * ng + gl)], f1 = s_corr[2 * (r1 * ng + gl) + 1];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float s0 = __half2float(s_scale[gl * kTileN + colA + j]);
        const float s1 = __half2float(s_scale[gl * kTileN + colA + 32 + j]);
        const float z0 = zeros ? __half2float(s_zero[gl * kTileN + colA + j]) : 8.0f;
        const float z1 = zeros ? __half2float(s_zero[gl * kTileN + colA + 32 + j]) : 8.0f;
        total[j][0] = fmaf(acc[j][0] - fmaf(z0, f0, e0), s0, total[j][0]);
        total[j][1] = fmaf(acc[j][1] - fmaf(z0, f1, e1), s0, total[j][1]);
        total[j][2] = fmaf(acc[j][2] - fmaf(z1, f0, e0), s1, total[j][2]);
        total[j][3] = fmaf(acc[j][3] - fmaf(z1, f1, e1), s1, total[j][3]);
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;
      }
    }
  };
  auto run_stage = [&](const uint4 (&wa)[kStage], const uint4 (&wb)[kStage], int c) {
#pragma unroll
    for (int i = 0; i < kStage; ++i)
      if (c + i < c1) chunk(wa[i], wb[i], c + i);
  };
  for (int c = c0; c < c1;) {
    fetch(wa1, wb1, c + kStage);
    run_stage(wa0, wb0, c);
    c += kStage;
    if (c >= c1) break;
    fetch(wa0, wb0, c + kStage);
    run_stage(wa1, wb1, c);
    c += kStage;
  }

  // The next kernel may start launching once every block is past its weight stream (earlier, blocks
  // of a chain of waiting kernels could fill the SMs before this one's are all placed).
  allow_next_launch();

  // Column sums into the reduction buffer (over the staged activations once every warp is done):
  // slot = the warp's K part; the part's two warps fill the two 64-column halves of its slot.
  float* red = reinterpret_cast<float*>(smem_raw);
  const int slot = warp >> 1;
  __syncthreads();
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int n0 = colA + j;
    if (2 * t < R) {
      red[(slot * R + 2 * t) * kTileN + n0] = total[j][0];
      red[(slot * R + 2 * t) * kTileN + n0 + 32] = total[j][2];
    }
    if (2 * t + 1 < R) {
      red[(slot * R + 2 * t + 1) * kTileN + n0] = total[j][1];
      red[(slot * R + 2 * t + 1) * kTileN + n0 + 32] = total[j][3];
    }
  }
  __syncthreads();
  finish_from_red<R>(p, L, tile, split, red, &s_last, R, kWarps / 2);
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
