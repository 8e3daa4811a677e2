// Shared pieces of the quantized GEMV kernels (qgemv.cu: any EXL2/GPTQ widths; qgemv_u4.cu:
// uniform 4-bit groups): launch parameters, the block/tile geometry and the split-K epilogue.
// Internal to the kernels library.
#pragma once

#include <cuda_fp16.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "async_copy.cuh"
#include "nibble_kernels/qgemv.h"

namespace nibble::kernels::detail {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTileN = 128;
constexpr int kRowsPerPass = 8;   // per pass of the slab kernel
constexpr int kMaxRows = 32;      // rows per qgemv call

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
  int rows;  // rows of this pass (the wide kernel's R is a capacity; see qgemv_wide.cu)
  float* ws;
  unsigned* counters;
  QGemvOutput output;
  float* ss_out;        // see QGemvArgs::ss_out
  const float* ss_in;   // see QGemvArgs::ss_in
  int max_len;     // staging row stride (halves)
  int max_words;   // weight slab rows (words of 128 columns)
  int max_groups;  // scale table rows
  bool prefetch;   // qgemv_u4: staging sources and norm weights looked up before the dependency wait
  // Wide kernel, stream-K split (see qgemv_wide.cu): the launch's tiles (matrix after matrix) and
  // chunks of 32 rows per tile; sk_tiles == 0: equal group splits per tile instead.
  int sk_tiles;
  int sk_cpt;
};

__device__ __forceinline__ float silu(float v) { return v / (1.0f + __expf(-v)); }

// Word c (0-3) of a 16-byte load.
__device__ __forceinline__ std::uint32_t word_of(const uint4& v, int c) {
  return c == 0 ? v.x : (c == 1 ? v.y : (c == 2 ? v.z : v.w));
}

// D += A B for one m16n8k16 tile (fp16 in, fp32 accumulate): A row-major, B column-major fragments.
__device__ __forceinline__ void mma_16816(float (&c)[4], std::uint32_t a0, std::uint32_t a1, std::uint32_t a2,
                                          std::uint32_t a3, std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Where a block works: blocks are numbered matrix by matrix, each matrix's tile-major within a split.
struct BlockPlace {
  int mi, tile, split;
};

__device__ __forceinline__ BlockPlace place_block(const Params& p) {
  int b = blockIdx.x;
  int mi = 0;
  while (mi + 1 < p.count && b >= p.mats[mi].blocks) {
    b -= p.mats[mi].blocks;
    ++mi;
  }
  return {mi, b % p.mats[mi].tiles, b / p.mats[mi].tiles};
}

// Sums of n split partials for R rows (row r's partial i at p[i * split_stride + r * row_stride]),
// each row in split order (deterministic), with the loads of up to 8 rows and four splits in flight.
template <int R>
__device__ __forceinline__ void sum_partials_rows(const float* p, std::size_t row_stride, std::size_t split_stride,
                                                  int n, float (&y)[R], int rows = R) {
  constexpr int RB = R < 8 ? R : 8;
#pragma unroll
  for (int r = 0; r < R; ++r) y[r] = 0.0f;
#pragma unroll
  for (int rb = 0; rb < R; rb += RB) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      float v[4][RB];
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < RB; ++r)
          v[j][r] = rb + r < rows ? __ldcg(p + (i + j) * split_stride + (rb + r) * row_stride) : 0.0f;
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < RB; ++r) y[rb + r] += v[j][r];
    }
    for (; i < n; ++i)
#pragma unroll
      for (int r = 0; r < RB; ++r)
        if (rb + r < rows) y[rb + r] += __ldcg(p + i * split_stride + (rb + r) * row_stride);
  }
}

// The epilogue of column n for rows hr0 .. hr0 + hrows - 1 (y: their sums): bias, then store, or
// add to the residual (and leave the row's sum of squares per 32 columns when asked).
template <int RH>
__device__ __forceinline__ void store_rows(const Params& p, const LaunchMatrix& L, int n, int hr0, int hrows,
                                           const float (&y)[RH]) {
  const QMatrix& M = L.m;
  const float bias = M.bias ? __half2float(M.bias[n]) : 0.0f;
#pragma unroll
  for (int r = 0; r < RH; ++r) {
    if (r >= hrows) break;
    const std::size_t o = static_cast<std::size_t>(p.row0 + hr0 + r) * L.t.ld + n;
    const float v = y[r] + bias;
    switch (p.output) {
      case QGemvOutput::store_fp32: static_cast<float*>(L.t.out)[o] = v; break;
      case QGemvOutput::store_fp16: static_cast<__half*>(L.t.out)[o] = __float2half_rn(v); break;
      case QGemvOutput::add_fp32: {
        float* po = static_cast<float*>(L.t.out) + o;
        const float nv = *po + v;
        *po = nv;
        if (p.ss_out) {  // every lane of an owner warp is here together (n % 32 == 0 checked at launch)
          float q = nv * nv;
#pragma unroll
          for (int s = 16; s > 0; s >>= 1) q += __shfl_xor_sync(0xffffffffu, q, s);
          if ((threadIdx.x & 31) == 0) p.ss_out[static_cast<std::size_t>(p.row0 + hr0 + r) * (M.n >> 5) + (n >> 5)] = q;
        }
        break;
      }
      default: break;
    }
  }
}

// Column col of rows hr0 .. hr0 + hrows - 1 summed over the reduction buffer's `slots` slots
// (red[(slot * rows + r) * kTileN + column]), in slot order; zero past hrows.
template <int RH>
__device__ __forceinline__ void sum_slots(const float* red, int rows, int slots, int hr0, int hrows, int col,
                                          float (&y)[RH]) {
#pragma unroll
  for (int r = 0; r < RH; ++r) {
    float v = 0.0f;
    if (r < hrows)
      for (int w = 0; w < slots; ++w) v += red[(w * rows + hr0 + r) * kTileN + col];
    y[r] = v;
  }
}

// The end of every GEMV block once the column sums of each of `slots` warps (or warp pairs) are in
// red[(slot * rows + r) * kTileN + column] and a barrier has passed: sum the slots, then either
// store directly or park the split-K partial; the last block of a tile to arrive sums the partials
// in split order and runs the epilogue. rows <= R (the pass's rows; R for exact kernels). For an
// even R of 4 or more, both halves of the block work, a column per thread and half of the rows
// each: the tile's last block has twice the loads in flight, and a thread holds half the sums (at
// 8 rows the uniform 4-bit kernel's spills drop from 196 to 72 bytes). Otherwise threads 0-127
// own a column each.
template <int R>
__device__ __forceinline__ void finish_from_red(const Params& p, const LaunchMatrix& L, int tile, int split,
                                                const float* red, bool* s_last_ptr, int rows = R, int slots = kWarps) {
  static_assert(kThreads == 2 * kTileN, "two halves of the block, a column per thread each");
  constexpr int kHalves = R >= 4 && R % 2 == 0 ? 2 : 1;
  constexpr int RH = R / kHalves;  // rows of a half
  static_assert(RH * kHalves == R, "rows split evenly between the halves");
  const QMatrix& M = L.m;
  const int tid = threadIdx.x;
  bool& s_last = *s_last_ptr;
  const int col = tid & (kTileN - 1);
  const int hr0 = (tid / kTileN) * RH;  // the thread's first row
  const bool owner = tid < kHalves * kTileN;
  const int hrows = owner ? min(max(rows - hr0, 0), RH) : 0;  // rows of this thread
  float y[RH];
  sum_slots<RH>(red, rows, slots, hr0, hrows, col, y);
  const int n = tile * kTileN + col;

  // Split-K: park the partial; the last block of the tile reduces in split order.
  const bool direct = p.output != QGemvOutput::silu_mul && M.n_splits == 1;
  if (!direct) {
#pragma unroll
    for (int r = 0; r < RH; ++r)
      if (r < hrows) p.ws[L.ws_offset + static_cast<std::size_t>(split * rows + hr0 + r) * M.n_pad + n] = y[r];
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
      if (n < Lg.m.n && hrows > 0) {
        __half* out = static_cast<__half*>(Lg.t.out);
        float gv[RH], uv[RH];
        sum_partials_rows<RH>(p.ws + Lg.ws_offset + static_cast<std::size_t>(hr0) * Lg.m.n_pad + n, Lg.m.n_pad,
                              static_cast<std::size_t>(rows) * Lg.m.n_pad, Lg.m.n_splits, gv, hrows);
        sum_partials_rows<RH>(p.ws + Lu.ws_offset + static_cast<std::size_t>(hr0) * Lu.m.n_pad + n, Lu.m.n_pad,
                              static_cast<std::size_t>(rows) * Lu.m.n_pad, Lu.m.n_splits, uv, hrows);
        const float gb = Lg.m.bias ? __half2float(Lg.m.bias[n]) : 0.0f;
        const float ub = Lu.m.bias ? __half2float(Lu.m.bias[n]) : 0.0f;
#pragma unroll
        for (int r = 0; r < RH; ++r)
          if (r < hrows)
            out[static_cast<std::size_t>(p.row0 + hr0 + r) * Lg.t.ld + n] = __float2half_rn(silu(gv[r] + gb) * (uv[r] + ub));
      }
      return;
    }
    if (hrows > 0)
      sum_partials_rows<RH>(p.ws + L.ws_offset + static_cast<std::size_t>(hr0) * M.n_pad + n, M.n_pad,
                            static_cast<std::size_t>(rows) * M.n_pad, M.n_splits, y, hrows);
  }
  if (!owner || n >= M.n) return;
  store_rows<RH>(p, L, n, hr0, hrows, y);
}

// finish_from_red for blocks whose warps hold tot[r][c] for columns lane * 4 + c.
template <int R>
__device__ __forceinline__ void finish_tile(const Params& p, const LaunchMatrix& L, int tile, int split,
                                            const float (&tot)[R][4], float* red, bool* s_last_ptr) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) red[(warp * R + r) * kTileN + lane * 4 + c] = tot[r][c];
  __syncthreads();
  finish_from_red<R>(p, L, tile, split, red, s_last_ptr);
}

// Shared memory of a block's weight slab: max_words rows of 128 words (512 bytes), at least the
// epilogue's reduction buffer (kWarps * r * kTileN floats), which reuses it.
__host__ __device__ constexpr std::size_t slab_smem_bytes(int max_words, int r) {
  return static_cast<std::size_t>(max_words) * 512 > static_cast<std::size_t>(kWarps) * r * kTileN * 4
             ? static_cast<std::size_t>(max_words) * 512
             : static_cast<std::size_t>(kWarps) * r * kTileN * 4;
}

// Issues the copy of word rows [w0, w1) of the tile's 128 columns into the slab (one commit group).
__device__ __forceinline__ void fetch_slab(uint4* slab, const std::uint32_t* q_weight, int n_pad, int tile, int w0,
                                           int w1) {
  const std::uint32_t* base = q_weight + static_cast<std::size_t>(w0) * n_pad + tile * kTileN;
  const int chunks = (w1 - w0) * 32;
  for (int i = threadIdx.x; i < chunks; i += kThreads)
    cp_async16(slab + i, base + static_cast<std::size_t>(i >> 5) * n_pad + (i & 31) * 4);
  cp_async_commit();
}

// Stages the fp16 scales (and GPTQ zero points) of groups [g0, g0 + ng) for the tile's 128 columns,
// 8 columns per load: one EXL2 code word or one 16-byte run of GPTQ scales. All loads independent.
__device__ __forceinline__ void stage_scales(const QMatrix& M, int g0, int ng, int tile, __half* s_scale,
                                             __half* s_zero) {
  const int pieces = ng * (kTileN / 8);
#pragma unroll 2
  for (int i = threadIdx.x; i < pieces; i += kThreads) {
    const int g = i >> 4, w = i & 15;
    const std::size_t gg = static_cast<std::size_t>(g0 + g);
    __half* dst = s_scale + g * kTileN + w * 8;
    if (M.q_scale) {
      const std::uint32_t code = M.q_scale[gg * (M.n_pad >> 3) + tile * (kTileN / 8) + w];
      const float mx = __half2float(M.q_scale_max[gg]);
      __align__(16) __half h[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float q = static_cast<float>(((code >> (4 * j)) & 15u) + 1u);
        h[j] = __float2half_rn(mx * q * q * (1.0f / 256.0f));
      }
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(h);
    } else {
      const std::size_t off = gg * M.n_pad + tile * kTileN + w * 8;
      *reinterpret_cast<uint4*>(dst) = __ldg(reinterpret_cast<const uint4*>(M.scales + off));
      if (M.zeros)
        *reinterpret_cast<uint4*>(s_zero + g * kTileN + w * 8) = __ldg(reinterpret_cast<const uint4*>(M.zeros + off));
    }
  }
}

// 1 / rms of each of the R rows from the producer's per-32-column sums of squares (QGemvArgs::ss_in),
// computed by every warp on its own in one fixed order (no block barrier needed).
template <int R>
__device__ __forceinline__ void rms_from_partials(const Params& p, int k, float (&rms)[R], int rows = R) {
  const int lane = threadIdx.x & 31;
  const int parts = k >> 5;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    rms[r] = 1.0f;
    if (r >= rows) continue;
    const float* row = p.ss_in + static_cast<std::size_t>(p.row0 + r) * parts;
    float t = 0.0f;
    for (int i = lane; i < parts; i += 32) t += __ldcg(row + i);
#pragma unroll
    for (int s = 16; s > 0; s >>= 1) t += __shfl_xor_sync(0xffffffffu, t, s);
    rms[r] = rsqrtf(t / static_cast<float>(k) + p.eps);
  }
}

// What dynamic shared memory limit a kernel has been granted, per GPU: the attribute belongs to
// the device's context, so a model split across GPUs raises it on each one.
struct SmemGrant {
  static constexpr int kDevices = 64;
  std::atomic<std::size_t> bytes[kDevices] = {};
};

// Raises the kernel's dynamic shared memory limit on the current GPU whenever a launch needs more
// than granted there so far.
template <class Kernel>
inline int ensure_smem(Kernel kernel, std::size_t smem, SmemGrant& grant) {
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return static_cast<int>(e);
  std::atomic<std::size_t>* granted = device >= 0 && device < SmemGrant::kDevices ? &grant.bytes[device] : nullptr;
  if (granted && smem <= granted->load(std::memory_order_relaxed)) return 0;  // static + dynamic above 48 KB needs the opt-in too
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (e != cudaSuccess) return static_cast<int>(e);
  if (!granted) return 0;
  std::size_t cur = granted->load(std::memory_order_relaxed);
  while (cur < smem && !granted->compare_exchange_weak(cur, smem, std::memory_order_relaxed)) {
  }
  return 0;
}

// Launches the uniform 4-bit kernel for one pass of r rows (qgemv_u4.cu).
int launch_u4(int r, const Params& p, int blocks, std::size_t smem, bool norm, cudaStream_t stream);

// Row stride (halves) of the uniform 4-bit kernel's staged activations for a split of len rows
// (a multiple of 8): len plus 0-56 halves, so the stride in 16-byte pieces is 4 mod 8.
constexpr int kU4StagedPad = 56;
__host__ __device__ constexpr int u4_staged_stride(int len) { return len + (((4 - (len >> 3)) & 7) << 3); }

// The wide uniform 4-bit path (qgemv_wide.cu) for 9-32 rows: staged activations, then one pass.

struct WidePlan {
  int splits;            // split-K ranges per matrix (equal group ranges)
  int slots;             // staged activation copies (matrices with distinct permutations)
  int slot_of[3];        // matrix -> its staged copy
  const int* perm[3];    // slot -> permutation (nullptr: identity)
  std::size_t ws_floats;  // split partials (ws_offset of the staged copies)
};
// Blocks per SM of the wide kernel.
constexpr int kWideBlocksPerSm = 2;
// Rows the wide kernel takes in one pass on this GPU (16 or 32; 0 when its shared memory does not fit).
int wide_pass_rows(int rows);
// Split count (every block resident at once) and staging copies for a launch of these matrices
// (equal k) in passes of `rows` rows; ws_floats is left to the caller.
WidePlan wide_plan(const QMatrix* m, int count, int rows);
// Stages the activations and runs the wide kernel for rows p.row0 .. p.row0 + p.rows - 1. p.mats
// must already carry the plan (n_splits, blocks, expected, ws offsets).
int launch_wide(const Params& p, const WidePlan& w, int blocks, bool norm, cudaStream_t stream);

}  // namespace nibble::kernels::detail
