// Quantized GEMV for 9-32 rows on uniform 4-bit matrices (every group 4-bit, one power-of-two size
// >= 32): the decode step of 9-32 concurrent jobs. At these row counts the products are no longer
// free next to the weight stream, so the kernel differs from qgemv_u4.cu (1-8 rows) in four ways:
//  - Activations are staged once per launch by a small kernel (RMSNorm applied, permutation
//    gathered, fp16, in the order the products read) into the workspace, and every block copies
//    its chunks of them from there instead of staging its own normalised copy.
//  - Codes are dequantized in the A fragments ((q - z) s in fp16: one subtract, one multiply per
//    pair) and the accumulators carry the scaled sums, so no per-group fold and no second set of
//    accumulators: four n8 products per decoded fragment fit in registers at two blocks per SM.
//  - Weights and the staged activations stream through a ring of cp.async slots in shared memory
//    per half of the block (7 chunks in flight), so the bytes in flight cost no registers and the
//    four warps that share a chunk's activations share one copy.
//  - A warp owns 32 columns (two m16 tiles; lane (g, t) loads word row t of columns 4g .. 4g + 3,
//    one 16-byte load, and its four words are the A rows g and g + 8 of both tiles), so 32 rows
//    need 32 accumulators per lane and two blocks fit on an SM.
// Block = 8 warps over a 128-column tile: four column groups of 32 times two halves of the block's
// K range; the halves' sums meet in shared memory and the split-K epilogue is qgemv_common.cuh's
// (fixed order, deterministic). Splits are equal group ranges chosen per launch so that all blocks
// are resident at once at two per SM. A row's result does not depend on how many rows
// share the launch (each row's arithmetic is the same), but differs in rounding from the 1-8 row
// kernel's (which folds scales in fp32 per group).
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "async_copy.cuh"
#include "launch.cuh"
#include "qgemv_common.cuh"

namespace nibble::kernels::detail {
namespace {

constexpr int kRing = 8;            // chunk slots per part (a power of two)
constexpr int kGroupsN = 4;         // column groups of 32 in a block
constexpr int kParts = kWarps / kGroupsN;  // K parts of a block
constexpr int kBlocksPerSm = kWideBlocksPerSm;
constexpr int kStageThreads = 256;

__device__ __forceinline__ int staged_pos(int o) { return ((o & 3) << 1) | ((o >> 2) & 1); }



__device__ __forceinline__ __half2 as_half2(std::uint32_t v) {
  __half2 h;
  static_assert(sizeof(h) == sizeof(v));
  memcpy(&h, &v, sizeof(v));
  return h;
}

__device__ __forceinline__ std::uint32_t as_u32(__half2 h) {
  std::uint32_t v;
  memcpy(&v, &h, sizeof(v));
  return v;
}

// Codes 0 and 4 of a word (bits 0-3, 16-19) dequantized: (1024 + q) - (1024 + z) is exact in fp16,
// then one rounding for the scale.
__device__ __forceinline__ std::uint32_t dequant_pair(std::uint32_t w, __half2 zc, __half2 s) {
  return as_u32(__hmul2(__hsub2(as_half2((w & 0x000F000Fu) | 0x64006400u), zc), s));
}

// Scales and offset zero points (1024 + z) of a lane's four columns col .. col + 3 for one group,
// loaded one group ahead (RawScales) and decoded when the group starts.
struct GroupScales {
  __half2 s[4];
  __half2 zc[4];
};

struct RawScales {
  std::uint32_t a, b, c, d;  // EXL2: scale code word, group maximum; GPTQ: 4 scales, 4 zero points
};

__device__ __forceinline__ RawScales load_raw_scales(const QMatrix& M, int gi, int col) {
  RawScales r{};
  if (M.q_scale) {
    r.a = __ldg(M.q_scale + static_cast<std::size_t>(gi) * (M.n_pad >> 3) + (col >> 3));
    r.b = __ldg(reinterpret_cast<const unsigned short*>(M.q_scale_max) + gi);
    return r;
  }
  const std::size_t off = static_cast<std::size_t>(gi) * M.n_pad + col;
  const uint2 sv = __ldg(reinterpret_cast<const uint2*>(M.scales + off));
  r.a = sv.x;
  r.b = sv.y;
  if (M.zeros) {
    const uint2 zv = __ldg(reinterpret_cast<const uint2*>(M.zeros + off));
    r.c = zv.x;
    r.d = zv.y;
  }
  return r;
}

__device__ __forceinline__ void decode_scales(const QMatrix& M, const RawScales& r, int col, GroupScales& out) {
  if (M.q_scale) {  // EXL2: 4-bit scale codes, 8 columns per word, and the group's maximum
    const float mx = __half2float(__ushort_as_half(static_cast<unsigned short>(r.b)));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float q = static_cast<float>(((r.a >> (4 * ((col & 7) + j))) & 15u) + 1u);
      out.s[j] = __half2half2(__float2half_rn(mx * q * q * (1.0f / 256.0f)));
      out.zc[j] = __half2half2(__float2half_rn(1032.0f));  // symmetric around 8
    }
    return;
  }
  const std::uint32_t sw[2] = {r.a, r.b}, zw[2] = {r.c, r.d};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const __half2 sp = as_half2(sw[j >> 1]), zp = as_half2(zw[j >> 1]);
    const __half sh = (j & 1) ? __high2half(sp) : __low2half(sp);
    const float z = M.zeros ? __half2float((j & 1) ? __high2half(zp) : __low2half(zp)) : 8.0f;
    out.s[j] = __half2half2(sh);
    out.zc[j] = __half2half2(__float2half_rn(1024.0f + z));
  }
}

struct StageArgs {
  const int* perm[3];
  __half* xs;  // [slot][rows][k]
};

// Each stage block covers kStageSpan columns of one row: kStageEach per thread.
constexpr int kStageEach = 4;
constexpr int kStageSpan = kStageThreads * kStageEach;

// Block (row, slot, span): kStageSpan of the row's activations for one permutation, normalised when
// asked, as fp16 in the order the products read: within each 8 rows of K, [x0 x4 x1 x5 x2 x6 x3 x7].
// The permutation and the norm weights do not depend on earlier kernels, so they are looked up
// before the dependency wait; after it, the row's scale (from the producer's sums of squares, or
// its own pass over the row) and one gather of x remain.
template <bool kNorm>
__global__ void __launch_bounds__(kStageThreads) stage_kernel(const __grid_constant__ Params p,
                                                              const __grid_constant__ StageArgs s) {
  __shared__ float s_part[kStageThreads / 32];
  const int r = blockIdx.x, slot = blockIdx.y, tid = threadIdx.x;
  const int k = p.mats[0].m.k;
  const std::size_t xrow = static_cast<std::size_t>(p.row0 + r) * p.ldx;
  const int* perm = s.perm[slot];
  const int base = blockIdx.z * kStageSpan + tid;
  int src[kStageEach];
  float nw[kStageEach];
#pragma unroll
  for (int e = 0; e < kStageEach; ++e) {
    const int o = base + e * kStageThreads;
    src[e] = o < k ? (perm ? perm[o] : o) : 0;
    nw[e] = kNorm && o < k ? __half2float(p.norm_weight[src[e]]) : 1.0f;
  }
  grid_dependency_wait();
  allow_next_launch();  // the GEMV may start streaming its weights
  float scale = 1.0f;
  if constexpr (kNorm) {
    float ss = 0.0f;
    if (p.ss_in) {
      const int parts = k >> 5;
      for (int i = tid; i < parts; i += kStageThreads) ss += __ldcg(p.ss_in + static_cast<std::size_t>(p.row0 + r) * parts + i);
    } else {
      const float* x = static_cast<const float*>(p.x) + xrow;
      for (int i = tid; i < k; i += kStageThreads) ss += x[i] * x[i];
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((tid & 31) == 0) s_part[tid >> 5] = ss;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kStageThreads / 32; ++w) total += s_part[w];
    scale = rsqrtf(total / static_cast<float>(k) + p.eps);
  }
  float v[kStageEach];
#pragma unroll
  for (int e = 0; e < kStageEach; ++e) {
    if constexpr (kNorm) v[e] = static_cast<const float*>(p.x)[xrow + src[e]];
    else v[e] = __half2float(static_cast<const __half*>(p.x)[xrow + src[e]]);
  }
  __half* out = s.xs + (static_cast<std::size_t>(slot) * p.rows + r) * k;
#pragma unroll
  for (int e = 0; e < kStageEach; ++e) {
    const int o = base + e * kStageThreads;
    if (o < k) out[(o & ~7) + staged_pos(o & 7)] = __float2half_rn(kNorm ? v[e] * scale * nw[e] : v[e]);
  }
}

// Stream-K: the block holding chunk u of the launch's tiles-times-chunks sequence (block b holds
// chunks [b U / B, (b + 1) U / B)).
__device__ __forceinline__ int sk_block_of(long u, long units, int blocks) {
  return static_cast<int>(((u + 1) * blocks - 1) / units);
}

// finish_from_red for a stream-K segment of global tile gtile (tile `tile` of L): a segment that
// covers the whole tile stores directly; others park their column sums as partial b + gtile (the
// blocks of one tile are consecutive, so its partials are too) and the tile's last block to arrive
// sums them in block order (deterministic). The SiLU pair waits for its gate and its up tile.
template <int R>
__device__ __forceinline__ void finish_stream_k(const Params& p, const LaunchMatrix& L, int tile, long gtile,
                                                const float* red, bool* s_last_ptr, int rows, int slots) {
  constexpr int RH = R / 2;  // R is 16 or 32: both halves of the block, half of the rows each
  const int tid = threadIdx.x;
  const int col = tid & (kTileN - 1);
  const int hr0 = (tid / kTileN) * RH;
  const int hrows = min(max(rows - hr0, 0), RH);
  const long units = static_cast<long>(p.sk_tiles) * p.sk_cpt;
  const int blocks = static_cast<int>(gridDim.x);
  auto first_block = [&](long t) { return sk_block_of(t * p.sk_cpt, units, blocks); };
  auto last_block = [&](long t) { return sk_block_of(t * p.sk_cpt + p.sk_cpt - 1, units, blocks); };
  float y[RH];
  sum_slots<RH>(red, rows, slots, hr0, hrows, col, y);
  const int n = tile * kTileN + col;
  const bool silu_pair = p.output == QGemvOutput::silu_mul;
  const int b0 = first_block(gtile), b1 = last_block(gtile);
  if (!silu_pair && b0 == b1) {
    if (n < L.m.n) store_rows<RH>(p, L, n, hr0, hrows, y);
    return;
  }
  const std::size_t part_floats = static_cast<std::size_t>(rows) * kTileN;
#pragma unroll
  for (int r = 0; r < RH; ++r)
    if (r < hrows) p.ws[(static_cast<std::size_t>(blockIdx.x + gtile) * rows + hr0 + r) * kTileN + col] = y[r];
  __threadfence();
  __syncthreads();
  // The SiLU pair: gate tiles come first in the launch, so up tile t is global tile tiles_gate + t.
  const long g_tile = silu_pair ? tile : gtile, u_tile = silu_pair ? p.mats[0].tiles + tile : gtile;
  if (tid == 0) {
    const int expected = silu_pair ? (last_block(g_tile) - first_block(g_tile) + 1) + (last_block(u_tile) - first_block(u_tile) + 1)
                                   : b1 - b0 + 1;
    const unsigned prev = atomicAdd(&p.counters[L.counter_offset + tile], 1u);
    *s_last_ptr = prev + 1 == static_cast<unsigned>(expected);
  }
  __syncthreads();
  if (!*s_last_ptr) return;
  __threadfence();
  if (tid == 0) p.counters[L.counter_offset + tile] = 0u;
  if (hrows == 0) return;
  auto sum_tile = [&](long t, float (&out)[RH]) {
    const int f = first_block(t);
    sum_partials_rows<RH>(p.ws + (static_cast<std::size_t>(f + t) * rows + hr0) * kTileN + col, kTileN, part_floats,
                          last_block(t) - f + 1, out, hrows);
  };
  if (silu_pair) {
    const LaunchMatrix& Lg = p.mats[0];
    const LaunchMatrix& Lu = p.mats[1];
    if (n >= Lg.m.n) return;
    float gv[RH], uv[RH];
    sum_tile(g_tile, gv);
    sum_tile(u_tile, uv);
    const float gb = Lg.m.bias ? __half2float(Lg.m.bias[n]) : 0.0f;
    const float ub = Lu.m.bias ? __half2float(Lu.m.bias[n]) : 0.0f;
    __half* out = static_cast<__half*>(Lg.t.out);
#pragma unroll
    for (int r = 0; r < RH; ++r)
      if (r < hrows)
        out[static_cast<std::size_t>(p.row0 + hr0 + r) * Lg.t.ld + n] = __float2half_rn(silu(gv[r] + gb) * (uv[r] + ub));
    return;
  }
  sum_tile(gtile, y);
  if (n < L.m.n) store_rows<RH>(p, L, n, hr0, hrows, y);
}

struct WideArgs {
  const __half* xs;
  int slot_of[3];
};

// R: rows capacity (16 or 32, p.rows of them used); NT = R / 8 products per decoded fragment.
template <int R>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm) qgemv_wide_kernel(const __grid_constant__ Params p,
                                                                           const __grid_constant__ WideArgs wa) {
  constexpr int NT = R / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ bool s_last;
  const int rows = p.rows;

  // Segments: equal group splits of one tile (one per block), or with sk_tiles the block's share of
  // all tiles' chunks (stream-K: every block the same number of chunks, crossing tile boundaries).
  const bool sk = p.sk_tiles > 0;
  const long sk_units = static_cast<long>(p.sk_tiles) * p.sk_cpt;
  const long u_end = sk ? (static_cast<long>(blockIdx.x) + 1) * sk_units / gridDim.x : 1;
  for (long u = sk ? static_cast<long>(blockIdx.x) * sk_units / gridDim.x : 0; u < u_end;) {
  int mi = 0, tile = 0, split = 0, seg_c0 = 0, seg_c1 = 0;
  long gtile = 0;
  if (sk) {
    gtile = u / p.sk_cpt;
    seg_c0 = static_cast<int>(u - gtile * p.sk_cpt);
    seg_c1 = static_cast<int>(min(static_cast<long>(p.sk_cpt), seg_c0 + (u_end - u)));
    tile = static_cast<int>(gtile);
    while (mi + 1 < p.count && tile >= p.mats[mi].tiles) tile -= p.mats[mi++].tiles;
    u += seg_c1 - seg_c0;
  } else {
    const BlockPlace place = place_block(p);
    mi = place.mi;
    tile = place.tile;
    split = place.split;
    u = 1;
  }
  const LaunchMatrix& L = p.mats[mi];
  const QMatrix& M = L.m;
  const int gshift = M.group_shift;
  if (!sk) {
    const int groups = M.k >> gshift;
    seg_c0 = static_cast<int>(static_cast<long>(split) * groups / M.n_splits) << (gshift - 5);
    seg_c1 = static_cast<int>(static_cast<long>(split + 1) * groups / M.n_splits) << (gshift - 5);
  }
  // Chunk indices below count from the tile's first row.
  const int chunks = seg_c1 - seg_c0;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int cg = warp % kGroupsN, part = warp / kGroupsN;
  const int c0 = seg_c0 + chunks * part / kParts, c1 = seg_c0 + chunks * (part + 1) / kParts;
  const int g = lane >> 2, t = lane & 3;
  const int col = tile * kTileN + cg * 32 + 4 * g;  // the lane's columns col .. col + 3

  // Each part (4 warps, 128 threads) streams its chunks through a ring of shared-memory slots:
  // [the 4 warps' weights: 4 x 32 lanes x 16 B][the chunk's activations: R rows x 64 B]. Thread i
  // of the part copies its lane's 16 weight bytes and 16 bytes of row i / 4 (zero past the pass's
  // rows), so one barrier of the part per chunk makes a slot visible to all four warps.
  constexpr int kSlot = 4 * 512 + R * 64;
  const int ptid = tid % (kGroupsN * 32);
  unsigned char* ring = smem_raw + part * kRing * kSlot;
  const uint4* wp = reinterpret_cast<const uint4*>(M.q_weight + static_cast<std::size_t>(t) * M.n_pad + col);
  const int brow = ptid >> 2, bpiece = ptid & 3;
  const bool b_copier = brow < R;
  const __half* bsrc = wa.xs + (static_cast<std::size_t>(wa.slot_of[mi]) * rows + (brow < rows ? brow : 0)) * M.k +
                       bpiece * 8;
  auto slot_of = [&](int c) { return ring + ((c - c0) & (kRing - 1)) * kSlot; };
  auto issue_w = [&](int c) {
    if (c < c1) cp_async16(slot_of(c) + cg * 512 + lane * 16, wp + static_cast<std::size_t>(c) * M.n_pad);
  };
  auto issue_b = [&](int c) {
    if (c < c1 && b_copier) cp_async16(slot_of(c) + 4 * 512 + brow * 64 + bpiece * 16, bsrc + (c << 5), brow < rows);
  };
  auto part_barrier = [&]() {  // named barriers 1 and 2 (constant ids: the block reserves only those)
    if (part == 0) asm volatile("bar.sync 1, %0;\n" ::"n"(kGroupsN * 32) : "memory");
    else asm volatile("bar.sync 2, %0;\n" ::"n"(kGroupsN * 32) : "memory");
  };
  // Weights do not depend on earlier kernels: their first chunks go before the wait, the
  // activations' after it (one commit group each; the loop's wait count covers both).
#pragma unroll
  for (int i = 0; i < kRing - 1; ++i) {
    issue_w(c0 + i);
    cp_async_commit();
  }

  GroupScales sc;
  int gcur = (c0 << 5) >> gshift;
  const int glast = ((c1 - 1) << 5) >> gshift;
  RawScales raw_next{};
  if (c0 < c1) {
    decode_scales(M, load_raw_scales(M, gcur, col), col, sc);
    if (gcur < glast) raw_next = load_raw_scales(M, gcur + 1, col);
  }

  grid_dependency_wait();  // the staged activations (and the workspace) come from earlier kernels
#pragma unroll
  for (int i = 0; i < kRing - 1; ++i) {
    issue_b(c0 + i);
    cp_async_commit();
  }

  float acc[NT][2][4];
#pragma unroll
  for (int n = 0; n < NT; ++n)
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[n][j][e] = 0.0f;
  for (int c = c0; c < c1; ++c) {
    cp_async_wait<kRing - 2>();
    part_barrier();  // every thread's copies of chunk c have landed; chunk c - 1's slot is free
    const unsigned char* slot = slot_of(c);
    const uint4 w4 = *reinterpret_cast<const uint4*>(slot + cg * 512 + lane * 16);
    uint4 xv[NT];  // B fragments: activation row 8n + g, staged K 8t .. 8t + 7
#pragma unroll
    for (int n = 0; n < NT; ++n) xv[n] = *reinterpret_cast<const uint4*>(slot + 4 * 512 + (8 * n + g) * 64 + t * 16);
    issue_w(c + kRing - 1);
    issue_b(c + kRing - 1);
    cp_async_commit();  // an empty group past the end keeps the wait count uniform
    const int gi = (c << 5) >> gshift;
    if (gi != gcur) {  // the next group's scales were loaded when this one's were decoded
      decode_scales(M, raw_next, col, sc);
      gcur = gi;
      if (gi < glast) raw_next = load_raw_scales(M, gi + 1, col);
    }
    // Tile j: A row g is column col + 2j, row g + 8 column col + 2j + 1. Product 1 takes codes 0,4
    // (k 2t, 2t+1) and 1,5 (k 2t+8, 2t+9) of word row t, product 2 codes 2,6 and 3,7: the staged
    // order of the activations matches.
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const std::uint32_t w0 = word_of(w4, 2 * j), w1 = word_of(w4, 2 * j + 1);
      const __half2 s0 = sc.s[2 * j], z0 = sc.zc[2 * j], s1 = sc.s[2 * j + 1], z1 = sc.zc[2 * j + 1];
      const std::uint32_t a0 = dequant_pair(w0, z0, s0), a1 = dequant_pair(w1, z1, s1);
      const std::uint32_t a2 = dequant_pair(w0 >> 4, z0, s0), a3 = dequant_pair(w1 >> 4, z1, s1);
#pragma unroll
      for (int n = 0; n < NT; ++n) mma_16816(acc[n][j], a0, a1, a2, a3, xv[n].x, xv[n].y);
      const std::uint32_t a4 = dequant_pair(w0 >> 8, z0, s0), a5 = dequant_pair(w1 >> 8, z1, s1);
      const std::uint32_t a6 = dequant_pair(w0 >> 12, z0, s0), a7 = dequant_pair(w1 >> 12, z1, s1);
#pragma unroll
      for (int n = 0; n < NT; ++n) mma_16816(acc[n][j], a4, a5, a6, a7, xv[n].z, xv[n].w);
    }
  }
  cp_async_wait<0>();
  allow_next_launch();

  // The two parts' column sums meet in the reduction buffer (which reuses the ring): slot `part`;
  // the accumulator's c0, c1 are column col + 2j for rows 8n + 2t, 8n + 2t + 1, c2, c3 column
  // col + 2j + 1.
  __syncthreads();
  float* red = reinterpret_cast<float*>(smem_raw);
  const int lc = cg * 32 + 4 * g;
#pragma unroll
  for (int n = 0; n < NT; ++n) {
    const int ra = 8 * n + 2 * t, rb = ra + 1;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      if (ra < rows) {
        red[(part * rows + ra) * kTileN + lc + 2 * j] = acc[n][j][0];
        red[(part * rows + ra) * kTileN + lc + 2 * j + 1] = acc[n][j][2];
      }
      if (rb < rows) {
        red[(part * rows + rb) * kTileN + lc + 2 * j] = acc[n][j][1];
        red[(part * rows + rb) * kTileN + lc + 2 * j + 1] = acc[n][j][3];
      }
    }
  }
  __syncthreads();
  if (sk) {
    finish_stream_k<R>(p, L, tile, gtile, red, &s_last, rows, kParts);
    __syncthreads();  // the next segment's ring reuses the reduction buffer
  } else {
    finish_from_red<R>(p, L, tile, split, red, &s_last, rows, kParts);
  }
  }
}

std::size_t wide_smem(int rows) {
  const int cap = rows <= 16 ? 16 : 32;
  const std::size_t ring = static_cast<std::size_t>(kParts) * kRing * (4 * 512 + cap * 64);
  const std::size_t red = static_cast<std::size_t>(kParts) * rows * kTileN * 4;
  return std::max(ring, red);
}

template <int R>
int launch_kernel(const Params& p, const WideArgs& wa, int blocks, cudaStream_t stream) {
  static SmemGrant granted;
  const std::size_t smem = wide_smem(R);
  if (const int e = ensure_smem(qgemv_wide_kernel<R>, smem, granted)) return e;
  return launch_pdl(qgemv_wide_kernel<R>, dim3(blocks), dim3(kThreads), smem, stream, p, wa);
}

}  // namespace

int wide_pass_rows(int rows) {
  const DeviceInfo d = device_info();
  const std::size_t stat = 1024;  // static shared memory of the kernel
  if (d.smem_optin >= wide_smem(32) + stat) return std::min(rows, 32);
  if (d.smem_optin >= wide_smem(16) + stat) return std::min(rows, 16);
  return 0;
}

WidePlan wide_plan(const QMatrix* m, int count, int rows) {
  WidePlan w{};
  int tiles = 0;
  for (int i = 0; i < count; ++i) tiles += m[i].n_pad / kTileN;
  const int groups = m[0].k >> m[0].group_shift;
  const int sms = std::max(1, device_info().sms);
  (void)rows;
  w.splits = std::clamp(kBlocksPerSm * sms / std::max(1, tiles), 1, std::min(groups, 16));
  w.slots = 0;
  for (int i = 0; i < count; ++i) {
    int found = -1;
    for (int s = 0; s < w.slots; ++s)
      if (w.perm[s] == m[i].perm) found = s;
    if (found < 0) {
      found = w.slots++;
      w.perm[found] = m[i].perm;
    }
    w.slot_of[i] = found;
  }
  return w;
}

int launch_wide(const Params& p, const WidePlan& w, int blocks, bool norm, cudaStream_t stream) {
  StageArgs s{};
  for (int i = 0; i < w.slots; ++i) s.perm[i] = w.perm[i];
  s.xs = reinterpret_cast<__half*>(p.ws + w.ws_floats);
  const dim3 grid(p.rows, w.slots, (p.mats[0].m.k + kStageSpan - 1) / kStageSpan);
  const int e = norm ? launch_pdl(stage_kernel<true>, grid, dim3(kStageThreads), 0, stream, p, s)
                     : launch_pdl(stage_kernel<false>, grid, dim3(kStageThreads), 0, stream, p, s);
  if (e != 0) return e;
  WideArgs wa{};
  wa.xs = s.xs;
  for (int i = 0; i < 3; ++i) wa.slot_of[i] = w.slot_of[i];
  return p.rows <= 16 ? launch_kernel<16>(p, wa, blocks, stream) : launch_kernel<32>(p, wa, blocks, stream);
}

}  // namespace nibble::kernels::detail
