// Quantized GEMV for decode: y[r, n] = sum_k x[r, perm[k]] * w[k, n] for 1-32 rows, reading every
// packed code once. Block = 8 warps over one tile of 128 columns (4 per lane, 16-byte loads) and one
// split of whole groups along K (<= 1024 rows); warps share the split by units. Latency is hidden by
// (1) one parallel prologue (group table, per-group scales into shared memory, RMS sums), (2) the
// first weight batch issued before the activations are staged, and (3) double-buffered batches
// that run across group boundaries. Split-K partials are reduced by the last block of a tile in a
// fixed order (deterministic), which also runs the epilogue.
#include "nibble_kernels/qgemv.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "launch.cuh"
#include "qgemv_common.cuh"
#include "qgemv_decode.cuh"
#include "row_reduce.cuh"

namespace nibble::kernels {
namespace {

using detail::UnitShape;

using detail::kThreads;
using detail::kWarps;
using detail::kTileN;
using detail::kRowsPerPass;
using detail::kMaxRows;
using detail::LaunchMatrix;
using detail::Params;
using detail::finish_tile;
using detail::BlockPlace;
using detail::place_block;
constexpr int kMaxSplitK = 1024;
constexpr int kMaxSplitGroups = 128;
constexpr int kMaxSplitWords = 128;  // weight slab rows per block (64 KB of shared memory)
// The uniform 4-bit kernel (qgemv_u4.cu) streams weights through registers: its splits are limited
// only by the staged activations (8 rows x 4096 halves = 64 KB). 9-32 rows of such matrices take
// the wide kernel (qgemv_wide.cu) with its own split plan.
constexpr int kMaxSplitKFast = 4096;
// Dynamic shared memory of a uniform 4-bit block that still leaves three blocks per SM (Hopper:
// 227 KB a block at most, 228 KB an SM with 1 KB reserved per block, a few hundred bytes static).
constexpr std::size_t kU4PrefetchSmem = 72 * 1024;

// NIBBLE_QGEMV_PREFETCH=0 turns the look-ups ahead of the dependency wait off (A/B timing).
bool u4_prefetch_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NIBBLE_QGEMV_PREFETCH");
    return !(v && v[0] == '0');
  }();
  return on;
}
constexpr int kBufVec = 6;  // uint4 per batch buffer (one-word widths: 4 units; 3/6-bit: 2 units; 5-bit: 1 of 5)

__device__ __forceinline__ int codes_for_bits(int bits) {
  switch (bits) {
    case 2: return 16;
    case 3: return 32;
    case 4: return 8;
    case 5: return 32;
    case 6: return 16;
    default: return 4;  // 8
  }
}

__device__ __forceinline__ int words_for_bits(int bits) { return (bits == 3 || bits == 6) ? 3 : (bits == 5 ? 5 : 1); }

// Units per double-buffered batch: 4 one-word units (64 bytes in flight per thread per buffer),
// 1-2 multi-word units; small enough that the unrolled decode stays in the instruction cache.
template <int B, int R>
struct Batching {
  static constexpr int units = UnitShape<B>::words == 1 ? 4 : (B == 5 || R > 2 ? 1 : 2);
};

__device__ __forceinline__ int units_per_batch(int bits, int rows) {
  const bool one_word = bits == 2 || bits == 4 || bits == 8;
  return one_word ? 4 : (bits == 5 || rows > 2 ? 1 : 2);
}

// Pair I of one unit for 4 columns and R rows: dequantize (code - zero) into half2 and accumulate
// against the staged activations; every 4 pairs (8 products) the half2 sums are flushed to fp32.
template <int B, int R, int I>
__device__ __forceinline__ void pair_step(const std::uint32_t (&w)[4][UnitShape<B>::words], const __half* xs,
                                          int xs_stride, const half2 (&off)[4], half2 (&a2)[R][4],
                                          float (&acc)[R][4]) {
  half2 h[4];
#pragma unroll
  for (int c = 0; c < 4; ++c) h[c] = detail::dequant_pair(detail::pair_bits<B, I>(w[c]), off[c]);
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const half2 xv = reinterpret_cast<const half2*>(xs + r * xs_stride)[I];
#pragma unroll
    for (int c = 0; c < 4; ++c) a2[r][c] = __hfma2(h[c], xv, a2[r][c]);
  }
  if constexpr ((I & 3) == 3 || I == UnitShape<B>::pairs - 1) {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        acc[r][c] += __low2float(a2[r][c]) + __high2float(a2[r][c]);
        a2[r][c] = __float2half2_rn(0.0f);
      }
  }
}

// One unit of B-bit codes (UnitShape<B>::words consecutive uint4 of the batch buffer).
template <int B, int R, int J>
__device__ __forceinline__ void process_unit(const uint4 (&raw)[kBufVec], const __half* xs, int xs_stride,
                                             const half2 (&off)[4], float (&acc)[R][4]) {
  constexpr int W = UnitShape<B>::words;
  std::uint32_t w[4][W];
#pragma unroll
  for (int c = 0; c < 4; ++c)
#pragma unroll
    for (int i = 0; i < W; ++i) w[c][i] = detail::word_of(raw[J * W + i], c);
  half2 a2[R][4];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) a2[r][c] = __float2half2_rn(0.0f);
  [&]<int... Is>(std::integer_sequence<int, Is...>) {
    (pair_step<B, R, Is>(w, xs, xs_stride, off, a2, acc), ...);
  }(std::make_integer_sequence<int, UnitShape<B>::pairs>{});
}

// Decodes the first n units of a batch (n <= Batching<B, R>::units).
template <int B, int R>
__device__ __forceinline__ void compute_batch(const uint4 (&raw)[kBufVec], int n, const __half* xs, int xs_stride,
                                              const half2 (&off)[4], float (&acc)[R][4]) {
  constexpr int C = UnitShape<B>::codes;
  [&]<int... Js>(std::integer_sequence<int, Js...>) {
    ((Js < n ? process_unit<B, R, Js>(raw, xs + Js * C, xs_stride, off, acc) : void()), ...);
  }(std::make_integer_sequence<int, Batching<B, R>::units>{});
}

// The warp's walk over (group, unit) batches of its share of the split.
struct Cursor {
  int gi = 0;  // local group index
  int u = 0;   // next unit in the group
  int ub = 0;  // end unit in the group for this warp
};

__device__ __forceinline__ void cursor_seek(Cursor& c, const QGroup* sg, int ng, int t0, int t1) {
  for (; c.gi < ng; ++c.gi) {
    const QGroup G = sg[c.gi];
    const int C = codes_for_bits(G.bits);
    const int nunits = (G.k_end - G.k_begin) / C;
    if (t1 - G.k_begin <= 0) {
      c.gi = ng;
      return;
    }
    const int ua = max(0, (t0 - G.k_begin + C - 1) / C);
    const int ub = min(nunits, (t1 - G.k_begin + C - 1) / C);
    if (ua < ub) {
      c.u = ua;
      c.ub = ub;
      return;
    }
  }
}

struct BatchRef {
  int gi = -1;
  int u = 0;
  int n = 0;
  int bits = 0;
};

template <int R>
__device__ __forceinline__ BatchRef take_batch(Cursor& c, const QGroup* sg, int ng, int t0, int t1) {
  BatchRef b;
  if (c.gi >= ng) return b;
  b.gi = c.gi;
  b.u = c.u;
  b.bits = sg[c.gi].bits;
  b.n = min(units_per_batch(b.bits, R), c.ub - c.u);
  c.u += b.n;
  if (c.u >= c.ub) {
    ++c.gi;
    cursor_seek(c, sg, ng, t0, t1);
  }
  return b;
}

// A batch's words for this lane's 4 columns, from the block's weight slab (word rows from w0).
__device__ __forceinline__ void load_batch(const BatchRef& b, const QGroup* sg, const uint4* slab, int w0, int lane,
                                           uint4 (&raw)[kBufVec]) {
  if (b.gi < 0) return;
  const int W = words_for_bits(b.bits);
  const uint4* base = slab + (sg[b.gi].word_begin - w0 + b.u * W) * 32 + lane;
  const int count = b.n * W;
#pragma unroll
  for (int j = 0; j < kBufVec; ++j)
    if (j < count) raw[j] = base[j * 32];
}

template <int R, bool kU4>
__device__ __forceinline__ void compute_any(const BatchRef& b, const uint4 (&raw)[kBufVec], const __half* xg,
                                            int xs_stride, const half2 (&off)[4], float (&acc)[R][4]) {
  if constexpr (kU4) {  // every group of the launch is 4-bit: one compact decode path
    compute_batch<4, R>(raw, b.n, xg + b.u * 8, xs_stride, off, acc);
    return;
  }
  switch (b.bits) {
    case 2: compute_batch<2, R>(raw, b.n, xg + b.u * 16, xs_stride, off, acc); break;
    case 3: compute_batch<3, R>(raw, b.n, xg + b.u * 32, xs_stride, off, acc); break;
    case 4: compute_batch<4, R>(raw, b.n, xg + b.u * 8, xs_stride, off, acc); break;
    case 5: compute_batch<5, R>(raw, b.n, xg + b.u * 32, xs_stride, off, acc); break;
    case 6: compute_batch<6, R>(raw, b.n, xg + b.u * 16, xs_stride, off, acc); break;
    default: compute_batch<8, R>(raw, b.n, xg + b.u * 4, xs_stride, off, acc); break;
  }
}

// tot += acc * scale of local group gi; acc = 0.
template <int R>
__device__ __forceinline__ void fold(int gi, const __half* s_scale, int lane, float (&acc)[R][4], float (&tot)[R][4]) {
  if (gi < 0) return;
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    const float s = __half2float(s_scale[gi * kTileN + lane * 4 + c]);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      tot[r][c] += acc[r][c] * s;
      acc[r][c] = 0.0f;
    }
  }
}

// One batch: fold the previous group when the group changes, then accumulate this batch.
template <int R, bool kU4>
__device__ __forceinline__ void step(const BatchRef& bb, const uint4 (&raw)[kBufVec], const QGroup* sg,
                                     const __half* s_scale, const __half* s_zero, bool zeros, int lane,
                                     const __half* xs, int kb, int len, int& acc_group, float (&acc)[R][4],
                                     float (&tot)[R][4]) {
  if (bb.gi != acc_group) {
    fold<R>(acc_group, s_scale, lane, acc, tot);
    acc_group = bb.gi;
  }
  const QGroup& G = sg[bb.gi];
  half2 off[4];
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    const float z = zeros ? __half2float(s_zero[bb.gi * kTileN + lane * 4 + c]) : static_cast<float>(1 << (G.bits - 1));
    const __half hz = __float2half_rn(1024.0f + z);
    off[c] = __halves2half2(hz, hz);
  }
  compute_any<R, kU4>(bb, raw, xs + (G.k_begin - kb), len, off, acc);
}

// With programmatic dependent launch (sm_90) the kernel may start while the previous kernel is
// still running: everything that reads only weights (group table, scales, the first weight batch)
// is issued first; activations, outputs and the split-K workspace are touched only after
// grid_dependency_wait().
template <int R, bool kNorm, bool kU4>
__global__ void __launch_bounds__(kThreads, R <= 2 ? 2 : 1) qgemv_kernel(const __grid_constant__ Params p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ QGroup s_groups[kMaxSplitGroups];
  __shared__ float s_rms[R];
  __shared__ float s_red[kWarps][R];
  __shared__ bool s_last;

  const BlockPlace place = place_block(p);
  const int mi = place.mi, tile = place.tile, split = place.split;
  const LaunchMatrix& L = p.mats[mi];
  const QMatrix& M = L.m;
  const int2 sp = M.splits[split];
  const int ng = sp.y - sp.x;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;

  // Shared memory: the weight slab of the split (reused for the warp reduction), staged
  // activations, then per-group scales and (GPTQ asymmetric) zero points of the tile's 128 columns.
  uint4* slab = reinterpret_cast<uint4*>(smem_raw);
  __half* xs = reinterpret_cast<__half*>(smem_raw + detail::slab_smem_bytes(p.max_words, R));
  __half* s_scale = xs + static_cast<std::size_t>(R) * p.max_len;
  __half* s_zero = s_scale + p.max_groups * kTileN;

  allow_next_launch();
  // 1. Prologue: every independent load at once, the split's whole weight slab first.
  const QGroup g_first = M.groups[sp.x], g_last = M.groups[sp.y - 1];
  const int w0 = g_first.word_begin;
  detail::fetch_slab(slab, M.q_weight, M.n_pad, tile, w0,
                     g_last.word_begin + (g_last.k_end - g_last.k_begin) * g_last.bits / 32);
  if (tid < ng) s_groups[tid] = M.groups[sp.x + tid];
  // Scales (and GPTQ zero points) of every (group, column) of the split, all loads independent.
  detail::stage_scales(M, sp.x, ng, tile, s_scale, s_zero);
  __syncthreads();

  const int kb = s_groups[0].k_begin;
  const int len = s_groups[ng - 1].k_end - kb;
  const int t0 = kb + (len * warp) / kWarps;
  const int t1 = kb + (len * (warp + 1)) / kWarps;
  Cursor cur;
  cursor_seek(cur, s_groups, ng, t0, t1);
  uint4 raw0[kBufVec], raw1[kBufVec];

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
      detail::thread_sum_squares<R, kThreads>(static_cast<const float*>(p.x), static_cast<std::size_t>(p.ldx), p.row0, M.k, ss);
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
  // Activations of this split, permuted (and normalised), in each unit's pair order. Each thread
  // walks its elements in increasing k (restarting at each row), so its group index moves a few
  // steps at most; the loads of all its elements are independent and issued together.
  {
    int gi = 0;
#pragma unroll 4
    for (int idx = tid; idx < len * R; idx += kThreads) {
      const int r = idx / len;
      const int off_all = idx - r * len;
      const int k = kb + off_all;
      while (k >= s_groups[gi].k_end) ++gi;
      while (k < s_groups[gi].k_begin) --gi;
      const QGroup& G = s_groups[gi];
      const int C = codes_for_bits(G.bits);
      const int P = C / 2;
      const int src = M.perm ? M.perm[k] : k;
      __half v;
      if constexpr (kNorm) {
        const float* x = static_cast<const float*>(p.x);
        v = __float2half_rn(x[static_cast<std::size_t>(p.row0 + r) * p.ldx + src] * s_rms[r] *
                            __half2float(p.norm_weight[src]));
      } else {
        v = static_cast<const __half*>(p.x)[static_cast<std::size_t>(p.row0 + r) * p.ldx + src];
      }
      const int off = k - G.k_begin;
      const int unit = off / C;
      const int j = off - unit * C;
      xs[r * len + (G.k_begin - kb) + unit * C + (j < P ? 2 * j : 2 * (j - P) + 1)] = v;
    }
  }
  cp_async_wait_all();
  __syncthreads();

  // 2. First weight batch from the slab.
  BatchRef b0 = take_batch<R>(cur, s_groups, ng, t0, t1);
  load_batch(b0, s_groups, slab, w0, lane, raw0);

  // 3. Double-buffered walk; acc holds the current group, folded into tot with its scale.
  float tot[R][4], acc[R][4];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) tot[r][c] = acc[r][c] = 0.0f;
  int acc_group = b0.gi;
  while (b0.gi >= 0) {
    BatchRef b1 = take_batch<R>(cur, s_groups, ng, t0, t1);
    load_batch(b1, s_groups, slab, w0, lane, raw1);
    step<R, kU4>(b0, raw0, s_groups, s_scale, s_zero, M.zeros != nullptr, lane, xs, kb, len, acc_group, acc, tot);
    if (b1.gi < 0) break;
    b0 = take_batch<R>(cur, s_groups, ng, t0, t1);
    load_batch(b0, s_groups, slab, w0, lane, raw0);
    step<R, kU4>(b1, raw1, s_groups, s_scale, s_zero, M.zeros != nullptr, lane, xs, kb, len, acc_group, acc, tot);
  }
  fold<R>(acc_group, s_scale, lane, acc, tot);

  finish_tile<R>(p, L, tile, split, tot, reinterpret_cast<float*>(smem_raw), &s_last);
}

template <int R, bool kNorm, bool kU4>
int launch_one(const Params& p, int blocks, std::size_t smem, cudaStream_t stream) {
  static detail::SmemGrant granted;
  if (const int e = detail::ensure_smem(qgemv_kernel<R, kNorm, kU4>, smem, granted)) return e;
  return launch_pdl(qgemv_kernel<R, kNorm, kU4>, dim3(blocks), dim3(kThreads), smem, stream, p);
}

template <int R>
int launch_pass(const Params& p, int blocks, std::size_t smem, bool norm, bool u4, cudaStream_t stream) {
  if (norm) return u4 ? launch_one<R, true, true>(p, blocks, smem, stream) : launch_one<R, true, false>(p, blocks, smem, stream);
  return u4 ? launch_one<R, false, true>(p, blocks, smem, stream) : launch_one<R, false, false>(p, blocks, smem, stream);
}

int launch_rows(int rows, const Params& p, int blocks, std::size_t smem, bool norm, bool u4, cudaStream_t stream) {
  switch (rows) {
    case 1: return launch_pass<1>(p, blocks, smem, norm, u4, stream);
    case 2: return launch_pass<2>(p, blocks, smem, norm, u4, stream);
    case 3: return launch_pass<3>(p, blocks, smem, norm, u4, stream);
    case 4: return launch_pass<4>(p, blocks, smem, norm, u4, stream);
    case 5: return launch_pass<5>(p, blocks, smem, norm, u4, stream);
    case 6: return launch_pass<6>(p, blocks, smem, norm, u4, stream);
    case 7: return launch_pass<7>(p, blocks, smem, norm, u4, stream);
    default: return launch_pass<8>(p, blocks, smem, norm, u4, stream);
  }
}

// Every group 4-bit, of one power-of-two size >= 32: the uniform kernel of qgemv_u4.cu.
bool fast_matrix(const QMatrix& m) { return m.uniform_bits == 4 && m.group_shift >= 5; }

bool valid_matrix(const QMatrix& m) {
  const bool fast = fast_matrix(m);
  const int max_k = fast ? kMaxSplitKFast : kMaxSplitK;
  const int max_words = fast ? kMaxSplitKFast / 8 : kMaxSplitWords;
  return m.q_weight && m.groups && m.splits && m.k > 0 && m.n > 0 && m.n_pad >= m.n && m.n_pad % kTileN == 0 &&
         m.n_splits > 0 && m.groups_count > 0 && m.max_split_k > 0 && m.max_split_k <= max_k &&
         m.max_split_groups > 0 && m.max_split_groups <= kMaxSplitGroups && m.max_split_words > 0 &&
         m.max_split_words <= max_words && (m.q_scale ? m.q_scale_max != nullptr : m.scales != nullptr);
}

}  // namespace

bool qgemv_wide_rows(const QMatrix& m) { return fast_matrix(m); }

bool qgemv_uniform4(const std::vector<QGroup>& groups) {
  if (groups.empty()) return false;
  const int rows0 = groups[0].k_end - groups[0].k_begin;
  if (rows0 < 32 || (rows0 & (rows0 - 1)) != 0) return false;
  for (std::size_t i = 0; i < groups.size(); ++i)
    if (groups[i].bits != 4 || groups[i].k_begin != static_cast<int>(i) * rows0 || groups[i].k_end - groups[i].k_begin != rows0)
      return false;
  return true;
}

std::vector<int2> qgemv_plan_splits(const std::vector<QGroup>& groups, int launch_tiles, int sm_count,
                                    bool uniform_launch) {
  std::vector<int2> out;
  const int g_count = static_cast<int>(groups.size());
  if (g_count == 0) return out;
  if (uniform_launch && qgemv_uniform4(groups)) {
    // Uniform 4-bit: every block resident at once (at most three per SM, the kernel's register
    // budget, so never a second wave), equal whole-group splits of about 1024-4096 rows where the
    // groups allow (the split count from K / 1024 rounded to nearest: 11,008 rows take 11 splits of
    // 1,024, not 10 of 1,152). Measured on an H100 against 1-16 splits per shape (docs/PERF.md).
    const int rows0 = groups[0].k_end - groups[0].k_begin;
    const long total_rows = static_cast<long>(g_count) * rows0;
    long want = std::max(1, sm_count) * 3L / std::max(1, launch_tiles);
    want = std::min<long>(want, std::max<long>(1, (total_rows + 512) / 1024));
    want = std::max<long>(want, (total_rows + kMaxSplitKFast - 1) / kMaxSplitKFast);
    want = std::clamp<long>(want, 1, g_count);
    const int per = static_cast<int>((g_count + want - 1) / want);
    for (int g = 0; g < g_count; g += per) out.push_back(int2{g, std::min(g_count, g + per)});
    return out;
  }
  long total_rows = 0, total_words = 0;
  for (const auto& g : groups) {
    total_rows += g.k_end - g.k_begin;
    total_words += static_cast<long>(g.k_end - g.k_begin) * g.bits / 32;
  }
  // About two blocks per SM over the whole launch, no split under 256 rows, none over 1024.
  const int target_blocks = std::max(1, sm_count) * 2;
  int want = (target_blocks + std::max(1, launch_tiles) - 1) / std::max(1, launch_tiles);
  want = std::min<long>(want, std::max<long>(1, total_rows / 256));
  want = std::max<long>(want, (total_rows + kMaxSplitK - 1) / kMaxSplitK);
  want = std::clamp(want, 1, g_count);
  long per_split = (total_words + want - 1) / want;
  // Groups of one size: whole groups per split, rounded up, so the launch gets `want` splits rather
  // than a few more short ones (o_proj of a 7B: 8 splits of 64 words, not 11 of 48).
  const long gw0 = static_cast<long>(groups[0].k_end - groups[0].k_begin) * groups[0].bits / 32;
  bool same = gw0 > 0;
  for (const auto& g : groups) same = same && static_cast<long>(g.k_end - g.k_begin) * g.bits / 32 == gw0;
  if (same) per_split = (per_split + gw0 - 1) / gw0 * gw0;
  int begin = 0;
  long words = 0;
  int k_len = 0;
  for (int g = 0; g < g_count; ++g) {
    const int glen = groups[g].k_end - groups[g].k_begin;
    const long gw = static_cast<long>(glen) * groups[g].bits / 32;
    if (g > begin && (words + gw > per_split || words + gw > kMaxSplitWords || k_len + glen > kMaxSplitK ||
                      g - begin >= kMaxSplitGroups)) {
      out.push_back(int2{begin, g});
      begin = g;
      words = 0;
      k_len = 0;
    }
    words += gw;
    k_len += glen;
  }
  out.push_back(int2{begin, g_count});
  return out;
}

void qgemv_describe_splits(QMatrix& m, const std::vector<QGroup>& groups, const std::vector<int2>& splits) {
  m.max_split_k = 0;
  m.max_split_groups = 0;
  m.max_split_words = 0;
  m.uniform_bits = groups.empty() ? 0 : groups[0].bits;
  m.group_shift = 0;
  const int rows0 = groups.empty() ? 0 : groups[0].k_end - groups[0].k_begin;
  bool uniform_rows = rows0 >= 32 && (rows0 & (rows0 - 1)) == 0;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (groups[i].bits != m.uniform_bits) m.uniform_bits = 0;
    if (groups[i].k_begin != static_cast<int>(i) * rows0 || groups[i].k_end - groups[i].k_begin != rows0) uniform_rows = false;
  }
  if (uniform_rows)
    while ((1 << m.group_shift) < rows0) ++m.group_shift;
  for (const auto& s : splits) {
    m.max_split_k = std::max(m.max_split_k, groups[s.y - 1].k_end - groups[s.x].k_begin);
    m.max_split_groups = std::max(m.max_split_groups, s.y - s.x);
    const QGroup& last = groups[s.y - 1];
    m.max_split_words = std::max(m.max_split_words, last.word_begin + (last.k_end - last.k_begin) * last.bits / 32 -
                                                        groups[s.x].word_begin);
  }
}

namespace {

// Whether a launch takes the wide kernel, and with how many rows per pass (0: no).
int wide_rows_for(const QGemvArgs& a) {
  if (a.rows <= kRowsPerPass || a.count < 1 || a.count > 3) return 0;
  for (int i = 0; i < a.count; ++i)
    if (!fast_matrix(a.m[i])) return 0;
  return detail::wide_pass_rows(std::min(a.rows, kMaxRows));
}

// Split partials of the wide plan (floats), before the staged activations: equal splits, or
// stream-K's one per block and tile it touches (at most blocks + tiles of 128 columns).
std::size_t wide_partials(const QGemvArgs& a, const detail::WidePlan& w, int rows) {
  std::size_t total = 0, tiles = 0;
  for (int i = 0; i < a.count; ++i) {
    total += static_cast<std::size_t>(w.splits) * rows * a.m[i].n_pad;
    tiles += static_cast<std::size_t>(a.m[i].n_pad / kTileN);
  }
  const std::size_t sk = (static_cast<std::size_t>(detail::kWideBlocksPerSm) * std::max(1, device_info().sms) + tiles) *
                         static_cast<std::size_t>(rows) * kTileN;
  return std::max(total, sk);
}

}  // namespace

std::size_t qgemv_workspace_floats(const QGemvArgs& a) {
  std::size_t total = 0;
  const int r = std::min(a.rows, kRowsPerPass);
  for (int i = 0; i < a.count && i < 3; ++i)
    total += static_cast<std::size_t>(a.m[i].n_splits) * r * a.m[i].n_pad;
  if (const int wr = wide_rows_for(a); wr > 0) {
    // Any later launch of these matrices with fewer rows may take passes of up to 16 rows instead.
    for (int r : {std::min(wr, 16), wr}) {
      const detail::WidePlan w = detail::wide_plan(a.m, a.count, r);
      const std::size_t staged = static_cast<std::size_t>(w.slots) * r * a.m[0].k / 2;  // fp16 in float units
      total = std::max(total, wide_partials(a, w, r) + staged);
    }
  }
  return total;
}

std::size_t qgemv_counter_count(const QGemvArgs& a) {
  std::size_t total = 0;
  for (int i = 0; i < a.count && i < 3; ++i) {
    if (a.output == QGemvOutput::silu_mul && i == 1) break;
    total += a.m[i].n_pad / kTileN;
  }
  return total;
}

int qgemv(const QGemvArgs& a, cudaStream_t stream) {
  if (a.count < 1 || a.count > 3 || a.rows < 1 || a.rows > kMaxRows || !a.x) return cudaErrorInvalidValue;
  if (a.output == QGemvOutput::silu_mul && (a.count != 2 || a.m[0].n != a.m[1].n || a.m[0].n_pad != a.m[1].n_pad))
    return cudaErrorInvalidValue;
  if (a.input == QGemvInput::fp32_rmsnorm && !a.norm_weight) return cudaErrorInvalidValue;
  Params p{};
  p.count = a.count;
  p.x = a.x;
  p.ldx = a.ldx;
  p.norm_weight = a.norm_weight;
  p.eps = a.norm_eps;
  p.ws = a.workspace;
  p.counters = a.counters;
  p.output = a.output;
  int blocks = 0;
  int counter_offset = 0;
  bool needs_ws = a.output == QGemvOutput::silu_mul;
  bool zeros = false;
  bool u4 = true;
  bool fast = true;  // every matrix: 4-bit groups of one power-of-two size (qgemv_u4.cu)
  for (int i = 0; i < a.count; ++i) {
    const QMatrix& m = a.m[i];
    if (!valid_matrix(m) || m.k != a.m[0].k || !a.target[i].out || a.target[i].ld < m.n) return cudaErrorInvalidValue;
    LaunchMatrix& L = p.mats[i];
    L.m = m;
    L.t = a.target[i];
    L.tiles = m.n_pad / kTileN;
    L.blocks = L.tiles * m.n_splits;
    if (a.output == QGemvOutput::silu_mul && i == 1) {
      L.counter_offset = p.mats[0].counter_offset;
    } else {
      L.counter_offset = counter_offset;
      counter_offset += L.tiles;
    }
    L.expected = a.output == QGemvOutput::silu_mul ? a.m[0].n_splits + a.m[1].n_splits : m.n_splits;
    blocks += L.blocks;
    p.max_len = std::max(p.max_len, m.max_split_k);
    p.max_groups = std::max(p.max_groups, m.max_split_groups);
    p.max_words = std::max(p.max_words, m.max_split_words);
    needs_ws = needs_ws || m.n_splits > 1;
    zeros = zeros || m.zeros != nullptr;
    u4 = u4 && m.uniform_bits == 4;
    fast = fast && fast_matrix(m);
  }
  if (needs_ws && (!a.workspace || !a.counters)) return cudaErrorInvalidValue;
  if (!fast)  // a uniform 4-bit matrix planned for its own kernel cannot share a launch with others
    for (int i = 0; i < a.count; ++i)
      if (a.m[i].max_split_k > kMaxSplitK || a.m[i].max_split_words > kMaxSplitWords) return cudaErrorInvalidValue;
  p.max_len = (p.max_len + 7) & ~7;  // keeps the scale tables after the staged rows 16-byte aligned
  const bool norm = a.input == QGemvInput::fp32_rmsnorm;
  if (a.ss_out && (a.output != QGemvOutput::add_fp32 || a.count != 1 || a.m[0].n % 32 != 0)) return cudaErrorInvalidValue;
  if (a.ss_in && (a.input != QGemvInput::fp32_rmsnorm || a.m[0].k % 32 != 0)) return cudaErrorInvalidValue;
  p.ss_out = a.ss_out;
  p.ss_in = a.ss_in;
  if (const int wr = wide_rows_for(a); wr > 0) {
    detail::WidePlan w = detail::wide_plan(a.m, a.count, wr);
    if (!a.workspace || !a.counters) return cudaErrorInvalidValue;
    int wide_blocks = 0;
    std::size_t off = 0;
    for (int i = 0; i < a.count; ++i) {
      LaunchMatrix& L = p.mats[i];
      L.m.n_splits = w.splits;  // the kernel splits K in equal group ranges; M.splits is not read
      L.blocks = L.tiles * w.splits;
      L.expected = a.output == QGemvOutput::silu_mul ? 2 * w.splits : w.splits;
      L.ws_offset = static_cast<int>(off);
      off += static_cast<std::size_t>(w.splits) * wr * a.m[i].n_pad;
      wide_blocks += L.blocks;
    }
    w.ws_floats = off;
    // Stream-K where equal splits leave more than 30% of the block slots empty (the 7B gate/up
    // pair: 172 tiles on 264 slots); elsewhere equal splits measured faster (their blocks do not
    // restart the ring at a tile boundary). NIBBLE_WIDE_STREAMK=0 / 1 forces it off / on.
    const int slots = detail::kWideBlocksPerSm * std::max(1, device_info().sms);
    static const int force_sk = [] {
      const char* v = std::getenv("NIBBLE_WIDE_STREAMK");
      return v ? std::atoi(v) : -1;
    }();
    if (force_sk == 1 || (force_sk != 0 && wide_blocks * 10 < 7 * slots)) {  // every block the same number of chunks
      int tiles = 0;
      for (int i = 0; i < a.count; ++i) tiles += p.mats[i].tiles;
      p.sk_tiles = tiles;
      p.sk_cpt = a.m[0].k / 32;
      const long units = static_cast<long>(tiles) * p.sk_cpt;
      wide_blocks = static_cast<int>(std::min<long>(units, slots));
      w.ws_floats = (static_cast<std::size_t>(wide_blocks) + tiles) * wr * kTileN;
    }
    for (int row0 = 0; row0 < a.rows; row0 += wr) {
      p.row0 = row0;
      p.rows = std::min(wr, a.rows - row0);
      if (const int err = detail::launch_wide(p, w, wide_blocks, norm, stream)) return err;
    }
    return 0;
  }
  const int pass_rows = std::min(a.rows, kRowsPerPass);
  int ws_offset = 0;
  for (int i = 0; i < a.count; ++i) {
    p.mats[i].ws_offset = ws_offset;
    ws_offset += a.m[i].n_splits * pass_rows * a.m[i].n_pad;
  }
  for (int row0 = 0; row0 < a.rows; row0 += pass_rows) {
    const int r = std::min(pass_rows, a.rows - row0);
    p.row0 = row0;
    p.rows = r;
    const std::size_t tables = static_cast<std::size_t>(p.max_groups) * kTileN * 2 * (zeros ? 2 : 1);
    const std::size_t staged = static_cast<std::size_t>(r) * p.max_len * 2;
    if (fast) {
      const std::size_t staged_u4 = static_cast<std::size_t>(r) * (p.max_len + detail::kU4StagedPad) * 2;
      const std::size_t red = static_cast<std::size_t>(kWarps) * r * kTileN * 4;
      const std::size_t corrections = (static_cast<std::size_t>(r) * p.max_groups * 2 * 4 + 15) & ~std::size_t{15};
      const std::size_t base = std::max(staged_u4, red) + tables + corrections;
      // Staging sources and norm weights ahead of the dependency wait, where they fit next to
      // three blocks per SM (sources as 16-bit indices: K below 65,536).
      const std::size_t lookups = static_cast<std::size_t>(p.max_len) * 4;
      p.prefetch = u4_prefetch_enabled() && a.m[0].k < 65536 && base + lookups <= kU4PrefetchSmem;
      const int err = detail::launch_u4(r, p, blocks, base + (p.prefetch ? lookups : 0), norm, stream);
      if (err != 0) return err;
      continue;
    }
    const std::size_t smem = detail::slab_smem_bytes(p.max_words, r) + staged + tables;
    const int err = launch_rows(r, p, blocks, smem, norm, u4, stream);
    if (err != 0) return err;
  }
  return 0;
}

}  // namespace nibble::kernels
