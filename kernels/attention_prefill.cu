// Tensor-core attention for prompt chunks (FlashAttention-2 style): a block takes up to 64
// consecutive query rows of one sequence and one query head; 4 warps each own 16 rows. Key/value
// tiles of 64 are gathered from the paged cache into shared memory, two stages deep for an fp16
// cache (the next tile's copies run under this tile's products; q8/q4 caches are dequantized to
// fp16 as they are staged: the kernel is templated on the cache type). Each thread stages half of
// one key row of a tile: one block-table look-up (made a tile ahead), then copies at constant
// offsets. S = Q K^T and O += P V run on mma.sync m16n8k16 (fp16 in, fp32 accumulate) with an
// online softmax in registers (exp2 on the special-function unit; O is rescaled only when a row's
// maximum moved), so memory stays O(rows). The causal/window/tile-end mask is applied only to the
// tiles that need it (for a chunk of consecutive positions, the last one or two). Blocks start
// heads fastest, longest tiles first. Head dims 64 and 128; others use attention_rows_serial.
// An fp16 cache with head dim 128 takes a wide variant when the call has rows enough to give every
// SM two blocks: 128-row blocks whose 4 warps own 32 rows each, so each K/V fragment read from
// shared memory feeds two products (attention_prefill_tile_rows says which tile size to build).
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "async_copy.cuh"
#include "kv_quant.cuh"
#include "launch.cuh"
#include "mma_tile.cuh"
#include "nibble_kernels/attention.h"

namespace nibble::kernels {
namespace {

constexpr int kRowsPerBlock = 64;
constexpr int kKeysPerTile = 64;
constexpr int kThreads = 128;
constexpr int kMinBlocksPerSm = 2;  // up to 255 registers: the loop needs about 190 without spills

// Shared memory of a block: two stages of (K tile, V tile), 64 keys of HD halves each (+8 halves
// of row padding). Q is staged in the second stage before the loop starts.
template <int HD>
constexpr std::size_t prefill_smem_bytes() {
  return 2u * 2u * kKeysPerTile * (HD + 8) * sizeof(__half);
}

constexpr int kFar = INT_MAX / 2;  // position of padding rows: sees every key

// Positions of the block's ROWS rows (padding rows at kFar) and, per warp of 32 rows, {last
// position, first window start, first position, last window start} with padding rows left out.
template <int ROWS>
__device__ __forceinline__ void load_positions(const AttentionArgs& a, int4 tile, int* s_pos, int4* s_range) {
  const int tid = threadIdx.x;
  if (tid >= ROWS) return;
  const bool valid = tid < tile.y;
  const int p = valid ? a.positions[tile.x + tid] : kFar;
  const int start = a.window > 0 ? max(0, p - a.window + 1) : 0;
  s_pos[tid] = p;
  const int hi_pos = __reduce_max_sync(0xffffffffu, valid ? p : -1);
  const int lo_start = __reduce_min_sync(0xffffffffu, valid ? start : INT_MAX);
  const int lo_pos = __reduce_min_sync(0xffffffffu, valid ? p : INT_MAX);
  const int hi_start = __reduce_max_sync(0xffffffffu, valid ? start : 0);
  if ((tid & 31) == 0) s_range[tid >> 5] = make_int4(hi_pos, lo_start, lo_pos, hi_start);
}

// The block's key range [min_start, max_pos] and the tiles [clear_begin, clear_end] that need no
// mask (causal, window or tile end) for any row.
struct KeyRange {
  int max_pos, min_start, clear_begin, clear_end;
};

template <int GROUPS>
__device__ __forceinline__ KeyRange key_range(const int4* s_range) {
  int max_pos = -1, min_start = INT_MAX, clear_lo = 0, clear_hi = INT_MAX;
#pragma unroll
  for (int w = 0; w < GROUPS; ++w) {
    const int4 rg = s_range[w];
    max_pos = max(max_pos, rg.x);
    min_start = min(min_start, rg.y);
    clear_hi = min(clear_hi, rg.z);
    clear_lo = max(clear_lo, rg.w);
  }
  return {max_pos, min_start, (clear_lo + kKeysPerTile - 1) / kKeysPerTile, (clear_hi + 1) / kKeysPerTile - 1};
}

// The tile's q rows (fp32, rotated) as fp16 pre-scaled for exp2 into s_q [ROWS][HD + 8]; padding
// rows zero.
template <int HD, int ROWS>
__device__ __forceinline__ void stage_q(const AttentionArgs& a, int4 tile, int head, float qscale, __half* s_q) {
  constexpr int kStride = HD + 8;
  const int tid = threadIdx.x;
  // fp16 rows (AttentionArgs::q16: 4 values per 8-byte load, checked at launch) or aligned fp32 rows.
  if (a.q16 || ((a.ldq & 3) == 0 && (reinterpret_cast<std::uintptr_t>(a.q) & 15) == 0)) {
#pragma unroll 4
    for (int it = 0; it < ROWS * HD / 4 / kThreads; ++it) {
      const int i = it * kThreads + tid;
      const int r = i / (HD / 4), d = (i % (HD / 4)) * 4;
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (r < tile.y) {
        const std::size_t off = static_cast<std::size_t>(tile.x + r) * a.ldq + head * HD + d;
        if (a.q16) {
          const uint2 u = *reinterpret_cast<const uint2*>(a.q16 + off);
          const float2 lo = __half22float2(*reinterpret_cast<const half2*>(&u.x));
          const float2 hi = __half22float2(*reinterpret_cast<const half2*>(&u.y));
          v = make_float4(lo.x, lo.y, hi.x, hi.y);
        } else {
          v = *reinterpret_cast<const float4*>(a.q + off);
        }
      }
      *reinterpret_cast<uint2*>(&s_q[r * kStride + d]) =
          make_uint2(pack_half2(v.x * qscale, v.y * qscale), pack_half2(v.z * qscale, v.w * qscale));
    }
  } else {
    for (int i = tid; i < ROWS * HD; i += kThreads) {
      const int r = i / HD, d = i % HD;
      float v = 0.0f;
      if (r < tile.y) v = a.q[static_cast<std::size_t>(tile.x + r) * a.ldq + head * HD + d] * qscale;
      s_q[r * kStride + d] = __float2half_rn(v);
    }
  }
}

// Causal / window / tile-end mask of one m16 tile's scores for keys k0 .. k0 + 63: the lane's rows
// are at positions pos_a, pos_b (padding rows kFar, start 0).
__device__ __forceinline__ void mask_scores(float (&s)[8][4], int pos_a, int pos_b, int k0, int t, int window) {
  const int hi_a = pos_a - k0 - 2 * t, hi_b = pos_b - k0 - 2 * t;  // against key offsets j * 8 + e
  const int lo_a = window > 0 && pos_a != kFar ? pos_a - window + 1 - k0 - 2 * t : INT_MIN;
  const int lo_b = window > 0 && pos_b != kFar ? pos_b - window + 1 - k0 - 2 * t : INT_MIN;
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int kofs = j * 8 + e;
      if (kofs > hi_a || kofs < lo_a) s[j][e] = -INFINITY;
      if (kofs > hi_b || kofs < lo_b) s[j][2 + e] = -INFINITY;
    }
}

// Online softmax update of one m16 tile: s becomes 2^(s - row max) in place; the row sums and O
// are rescaled by the moved maxima (O only when some row's maximum moved).
template <int HD>
__device__ __forceinline__ void softmax_update(float (&s)[8][4], float& m_a, float& m_b, float& l_a, float& l_b,
                                               float (&o)[HD / 8][4]) {
  float mx_a = m_a, mx_b = m_b;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    mx_a = fmaxf(mx_a, fmaxf(s[j][0], s[j][1]));
    mx_b = fmaxf(mx_b, fmaxf(s[j][2], s[j][3]));
  }
#pragma unroll
  for (int off = 1; off <= 2; off <<= 1) {
    mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, off));
    mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, off));
  }
  // Rows with nothing visible yet keep a zero shift (avoids inf - inf); 2^-inf = 0.
  const float base_a = mx_a == -INFINITY ? 0.0f : mx_a;
  const float base_b = mx_b == -INFINITY ? 0.0f : mx_b;
  const bool moved = mx_a != m_a || mx_b != m_b;
  const float corr_a = fast_exp2(m_a - base_a), corr_b = fast_exp2(m_b - base_b);
  m_a = mx_a;
  m_b = mx_b;
  float sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    s[j][0] = fast_exp2(s[j][0] - base_a);
    s[j][1] = fast_exp2(s[j][1] - base_a);
    s[j][2] = fast_exp2(s[j][2] - base_b);
    s[j][3] = fast_exp2(s[j][3] - base_b);
    sum_a += s[j][0] + s[j][1];
    sum_b += s[j][2] + s[j][3];
  }
  l_a = l_a * corr_a + sum_a;  // per-thread partial sums; reduced across the quad at the end
  l_b = l_b * corr_b + sum_b;
  if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
    for (int j = 0; j < HD / 8; ++j) {
      o[j][0] *= corr_a;
      o[j][1] *= corr_a;
      o[j][2] *= corr_b;
      o[j][3] *= corr_b;
    }
  }
}

// O's rows row0 and row0 + 8 of the tile (those below tile.y), divided by their softmax sums.
template <int HD>
__device__ __forceinline__ void store_rows(const AttentionArgs& a, int4 tile, int head, int row0, int t,
                                           const float (&o)[HD / 8][4], float l_a, float l_b) {
#pragma unroll
  for (int off = 1; off <= 2; off <<= 1) {
    l_a += __shfl_xor_sync(0xffffffffu, l_a, off);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, off);
  }
  const float inv_a = l_a > 0.0f ? 1.0f / l_a : 0.0f, inv_b = l_b > 0.0f ? 1.0f / l_b : 0.0f;
#pragma unroll
  for (int j = 0; j < HD / 8; ++j) {
    const int d = j * 8 + 2 * t;
    if (row0 < tile.y) {
      __half* out = a.out + static_cast<std::size_t>(tile.x + row0) * a.ldo + head * HD + d;
      *reinterpret_cast<half2*>(out) = __floats2half2_rn(o[j][0] * inv_a, o[j][1] * inv_a);
    }
    if (row0 + 8 < tile.y) {
      __half* out = a.out + static_cast<std::size_t>(tile.x + row0 + 8) * a.ldo + head * HD + d;
      *reinterpret_cast<half2*>(out) = __floats2half2_rn(o[j][2] * inv_b, o[j][3] * inv_b);
    }
  }
}

template <int HD, KvType T>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm) attention_prefill_kernel(const AttentionArgs a, const int4* tiles) {
  constexpr int kStride = HD + 8;  // halves per smem row: +16 bytes breaks ldmatrix bank conflicts
  constexpr int kTileHalves = kKeysPerTile * kStride;
  constexpr int kChunks = HD / 8;  // 16-byte chunks (8 fp16 values) per key row
  constexpr int kGroup = kv_quant_group(HD);
  // fp16 caches: the next K/V tile is copied (cp.async) into the other stage while this one is
  // used. q8/q4 caches are dequantized through registers as they are staged, one tile at a time.
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __half* s_stage = reinterpret_cast<__half*>(smem_raw);  // [2][K, V][kKeysPerTile][kStride]
  __half* s_q = s_stage + 2 * kTileHalves;                // stage 1 (free until the first prefetch into it)
  __shared__ int s_pos[kRowsPerBlock];
  __shared__ int4 s_range[2];  // per half of the rows: last position, first window start, first
                               // position, last window start

  // Blocks start in launch order, heads fastest: the last tiles (most keys) of every head go
  // first and the short ones fill in at the end (less tail).
  const int4 tile = tiles[gridDim.y - 1 - blockIdx.y];  // {row_begin, rows, seq, unused}
  if (tile.y <= 0) return;
  const int head = blockIdx.x;
  const int group = a.heads / a.kv_heads;
  const int kvh = head / group;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int* table = a.block_tables + static_cast<std::size_t>(tile.z) * a.max_pages;
  constexpr float kLog2e = 1.4426950408889634f;
  const float qscale = a.scale * kLog2e;

  load_positions<kRowsPerBlock>(a, tile, s_pos, s_range);
  stage_q<HD, kRowsPerBlock>(a, tile, head, qscale, s_q);
  __syncthreads();
  const KeyRange keys = key_range<kRowsPerBlock / 32>(s_range);
  const int max_pos = keys.max_pos, min_start = keys.min_start;
  const int clear_begin = keys.clear_begin, clear_end = keys.clear_end;

  // This warp's Q fragments for every 16-wide slice of the head dimension.
  std::uint32_t qf[HD / 16][4];
#pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks)
    ldmatrix_x4(qf[ks], &s_q[(warp * 16 + (lane % 16)) * kStride + ks * 16 + (lane / 16) * 8]);

  const int g = lane >> 2, t = lane & 3;
  const int row0 = warp * 16 + g;  // rows row0 and row0 + 8 of the block
  float o[HD / 8][4];
#pragma unroll
  for (int j = 0; j < HD / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.0f, l_b = 0.0f;

  const int kt_begin = min_start / kKeysPerTile;
  const int kt_end = max_pos / kKeysPerTile;
  // Staging: each thread copies half of the 16-byte chunks of one key row of a tile (h, h + 2, ...),
  // so its copies are two base addresses plus constant offsets. Lane pairs cover 32 contiguous
  // bytes; a quarter warp writes rows 0, 2, 4, 6 of its group (conflict-free with the padding).
  const int h = lane & 1, pair = lane >> 1;
  const int kr = warp * 16 + (pair >> 3) * 8 + (pair & 3) * 2 + ((pair >> 2) & 1);  // key row of the tile
  __half* const s_copy = s_stage + kr * kStride + h * 8;
  // Block-table entry and in-page offset of this thread's key in the next tile to stage, looked up
  // one tile ahead so the load's latency hides under a tile of products.
  int page = 0, in_page = 0;
  auto look_up = [&](int kt) {
    const int key = kt * kKeysPerTile + kr;
    if (key <= max_pos) {
      page = table[key / a.page_size];
      in_page = key % a.page_size;
    }
  };
  look_up(kt_begin);
  // Stages tile kt into stage buffer `st` (K then V): asynchronous copies for an fp16 cache.
  auto stage_tile = [&](int kt, int st) {
    __half* s_k = s_copy + (2 * st) * kTileHalves;
    __half* s_v = s_k + kTileHalves;
    const bool valid = kt * kKeysPerTile + kr <= max_pos;
    // Cache row (kv_cache.h); row 0 for keys past the end (zero-filled, not read).
    const std::size_t row = valid ? (static_cast<std::size_t>(page) * a.page_size + in_page) * a.kv_heads + kvh : 0;
    look_up(kt + 1);
    if constexpr (T == KvType::fp16) {
      const __half* g_k = a.k_cache + row * HD + h * 8;
      const __half* g_v = a.v_cache + row * HD + h * 8;
#pragma unroll
      for (int i = 0; i < kChunks / 2; ++i) {
        cp_async16(s_k + i * 16, g_k + i * 16, valid);
        cp_async16(s_v + i * 16, g_v + i * 16, valid);
      }
      cp_async_commit();
    } else {
      // Codes and scales of kBatch pieces fetched before any is decoded (their loads in flight
      // together); a larger batch would spill next to O and Q.
      constexpr int kBatch = 4;
#pragma unroll 1
      for (int i0 = 0; i0 < kChunks / 2; i0 += kBatch) {
        KvRaw8 rk[kBatch], rv[kBatch];
#pragma unroll
        for (int u = 0; u < kBatch; ++u)
          if (valid && i0 + u < kChunks / 2) {
            rk[u] = kv_fetch8<T>({a.k_codes, a.k_scales}, row, HD, kGroup, 2 * (i0 + u) + h);
            rv[u] = kv_fetch8<T>({a.v_codes, a.v_scales}, row, HD, kGroup, 2 * (i0 + u) + h);
          }
#pragma unroll
        for (int u = 0; u < kBatch; ++u)
          if (i0 + u < kChunks / 2) {
            *reinterpret_cast<uint4*>(s_k + (i0 + u) * 16) = valid ? kv_decode8<T>(rk[u]) : make_uint4(0, 0, 0, 0);
            *reinterpret_cast<uint4*>(s_v + (i0 + u) * 16) = valid ? kv_decode8<T>(rv[u]) : make_uint4(0, 0, 0, 0);
          }
      }
    }
  };
  if constexpr (T == KvType::fp16) stage_tile(kt_begin, 0);
  __syncthreads();  // every warp holds its Q fragments: stage 1 is free
  // One barrier a tile: past it, every thread's copies of tile kt have landed and every warp is
  // done with tile kt - 1, whose stage the copies of tile kt + 1 (issued after it) then reuse.
  for (int kt = kt_begin; kt <= kt_end; ++kt) {
    const int st = (kt - kt_begin) & 1;
    if constexpr (T == KvType::fp16) {
      cp_async_wait<0>();
    } else {
      stage_tile(kt, st);
    }
    __syncthreads();
    if constexpr (T == KvType::fp16)
      if (kt < kt_end) stage_tile(kt + 1, st ^ 1);
    const int k0 = kt * kKeysPerTile;
    const __half* s_k = s_stage + (2 * st) * kTileHalves;
    const __half* s_v = s_k + kTileHalves;

    // S = Q K^T for 64 keys: 8 n-tiles of 8 keys.
    float s[8][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < HD / 16; ++ks) {
#pragma unroll
      for (int jp = 0; jp < 4; ++jp) {  // pairs of n-tiles (16 keys)
        std::uint32_t b[4];
        const int mi = lane >> 3;
        ldmatrix_x4(b, &s_k[(jp * 16 + (mi >> 1) * 8 + (lane & 7)) * kStride + ks * 16 + (mi & 1) * 8]);
        mma16816(s[2 * jp], qf[ks], b[0], b[1]);
        mma16816(s[2 * jp + 1], qf[ks], b[2], b[3]);
      }
    }
    // Mask (causal, window, tile end) only on tiles where some row of the block needs it.
    if (kt < clear_begin || kt > clear_end) mask_scores(s, s_pos[row0], s_pos[row0 + 8], k0, t, a.window);
    softmax_update<HD>(s, m_a, m_b, l_a, l_b, o);
    // O += P V: P's accumulator layout is the A layout of the next product (two n-tiles = k16).
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const std::uint32_t pa[4] = {pack_half2(s[2 * kk][0], s[2 * kk][1]), pack_half2(s[2 * kk][2], s[2 * kk][3]),
                                   pack_half2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                   pack_half2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < HD / 16; ++dp) {  // pairs of 8-wide output tiles
        std::uint32_t b[4];
        const int mi = lane >> 3;
        ldmatrix_x4_trans(b, &s_v[(kk * 16 + (mi & 1) * 8 + (lane & 7)) * kStride + dp * 16 + (mi >> 1) * 8]);
        mma16816(o[2 * dp], pa, b[0], b[1]);
        mma16816(o[2 * dp + 1], pa, b[2], b[3]);
      }
    }
  }
  const int4 tl = tiles[gridDim.y - 1 - blockIdx.y];  // reloaded: spares two registers in the loop
  store_rows<HD>(a, tl, head, row0, t, o, l_a, l_b);
}

// Wide variant for an fp16 cache and head dim 128: blocks of 128 query rows, 4 warps of 32 rows
// (two m16 tiles), so every K and V fragment read from shared memory feeds two products instead of
// one. Q stays in shared memory and its fragments are read per 16-wide slice of the head dimension
// (registers go to the two tiles' S and O). Same staging, masks, softmax and output as above.
constexpr int kWideRows = 128;
constexpr int kWideMinBlocksPerSm = 2;

template <int HD>
constexpr std::size_t prefill_wide_smem_bytes() {
  return (2u * 2u * kKeysPerTile + kWideRows) * (HD + 8) * sizeof(__half);
}

template <int HD>
__global__ void __launch_bounds__(kThreads, kWideMinBlocksPerSm) attention_prefill_wide_kernel(const AttentionArgs a, const int4* tiles) {
  constexpr int kStride = HD + 8;
  constexpr int kTileHalves = kKeysPerTile * kStride;
  constexpr int kChunks = HD / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __half* s_stage = reinterpret_cast<__half*>(smem_raw);  // [2][K, V][kKeysPerTile][kStride]
  __half* s_q = s_stage + 4 * kTileHalves;                // [kWideRows][kStride]
  __shared__ int s_pos[kWideRows];
  __shared__ int4 s_range[4];  // per warp (32 rows): last position, first window start, first position, last window start

  const int4 tile = tiles[gridDim.y - 1 - blockIdx.y];
  if (tile.y <= 0) return;
  const int head = blockIdx.x;
  const int group = a.heads / a.kv_heads;
  const int kvh = head / group;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int* table = a.block_tables + static_cast<std::size_t>(tile.z) * a.max_pages;
  constexpr float kLog2e = 1.4426950408889634f;
  const float qscale = a.scale * kLog2e;

  load_positions<kWideRows>(a, tile, s_pos, s_range);
  stage_q<HD, kWideRows>(a, tile, head, qscale, s_q);
  __syncthreads();
  const KeyRange keys = key_range<kWideRows / 32>(s_range);
  const int max_pos = keys.max_pos, min_start = keys.min_start;
  const int clear_begin = keys.clear_begin, clear_end = keys.clear_end;

  const int g = lane >> 2, t = lane & 3;
  const int wrow = warp * 32;  // the warp's rows: wrow + 16 mt + g and + 8, mt = 0, 1
  float o[2][HD / 8][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int j = 0; j < HD / 8; ++j) o[mt][j][0] = o[mt][j][1] = o[mt][j][2] = o[mt][j][3] = 0.0f;
  float m_a[2] = {-INFINITY, -INFINITY}, m_b[2] = {-INFINITY, -INFINITY}, l_a[2] = {0.0f, 0.0f}, l_b[2] = {0.0f, 0.0f};

  const int kt_begin = min_start / kKeysPerTile;
  const int kt_end = max_pos / kKeysPerTile;
  const int h = lane & 1, pair = lane >> 1;
  const int kr = warp * 16 + (pair >> 3) * 8 + (pair & 3) * 2 + ((pair >> 2) & 1);
  __half* const s_copy = s_stage + kr * kStride + h * 8;
  // The thread's key row of a tile is looked up as the tile is staged: the block-table row stays
  // in L1 across tiles, and a look-up held in registers a tile ahead would spill next to the two
  // tiles' S and O.
  auto stage_tile = [&](int kt, int st) {
    __half* s_k = s_copy + (2 * st) * kTileHalves;
    __half* s_v = s_k + kTileHalves;
    const int key = kt * kKeysPerTile + kr;
    const bool valid = key <= max_pos;
    const std::size_t row =
        valid ? (static_cast<std::size_t>(table[key / a.page_size]) * a.page_size + key % a.page_size) *
                        a.kv_heads + kvh
              : 0;
    const __half* g_k = a.k_cache + row * HD + h * 8;
    const __half* g_v = a.v_cache + row * HD + h * 8;
#pragma unroll
    for (int i = 0; i < kChunks / 2; ++i) {
      cp_async16(s_k + i * 16, g_k + i * 16, valid);
      cp_async16(s_v + i * 16, g_v + i * 16, valid);
    }
    cp_async_commit();
  };
  stage_tile(kt_begin, 0);
  // One barrier a tile, as in the 64-row kernel: the copies of tile kt + 1 go out after it.
  for (int kt = kt_begin; kt <= kt_end; ++kt) {
    const int st = (kt - kt_begin) & 1;
    cp_async_wait<0>();
    __syncthreads();
    if (kt < kt_end) stage_tile(kt + 1, st ^ 1);
    const int k0 = kt * kKeysPerTile;
    const __half* s_k = s_stage + (2 * st) * kTileHalves;
    const __half* s_v = s_k + kTileHalves;

    float s[2][8][4];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int j = 0; j < 8; ++j) s[mt][j][0] = s[mt][j][1] = s[mt][j][2] = s[mt][j][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < HD / 16; ++ks) {
      std::uint32_t qa[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
        ldmatrix_x4(qa[mt], &s_q[(wrow + 16 * mt + (lane % 16)) * kStride + ks * 16 + (lane / 16) * 8]);
#pragma unroll
      for (int jp = 0; jp < 4; ++jp) {
        std::uint32_t b[4];
        const int mi = lane >> 3;
        ldmatrix_x4(b, &s_k[(jp * 16 + (mi >> 1) * 8 + (lane & 7)) * kStride + ks * 16 + (mi & 1) * 8]);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          mma16816(s[mt][2 * jp], qa[mt], b[0], b[1]);
          mma16816(s[mt][2 * jp + 1], qa[mt], b[2], b[3]);
        }
      }
    }
    const bool masked = kt < clear_begin || kt > clear_end;
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      const int row0 = wrow + 16 * mt + g;
      if (masked) mask_scores(s[mt], s_pos[row0], s_pos[row0 + 8], k0, t, a.window);
      softmax_update<HD>(s[mt], m_a[mt], m_b[mt], l_a[mt], l_b[mt], o[mt]);
    }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      std::uint32_t pa[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        pa[mt][0] = pack_half2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][1] = pack_half2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][2] = pack_half2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][3] = pack_half2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < HD / 16; ++dp) {
        std::uint32_t b[4];
        const int mi = lane >> 3;
        ldmatrix_x4_trans(b, &s_v[(kk * 16 + (mi & 1) * 8 + (lane & 7)) * kStride + dp * 16 + (mi >> 1) * 8]);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          mma16816(o[mt][2 * dp], pa[mt], b[0], b[1]);
          mma16816(o[mt][2 * dp + 1], pa[mt], b[2], b[3]);
        }
      }
    }
  }
  const int4 tl = tiles[gridDim.y - 1 - blockIdx.y];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    store_rows<HD>(a, tl, head, wrow + 16 * mt + g, t, o[mt], l_a[mt], l_b[mt]);
  }
}

}  // namespace

int attention_prefill(const AttentionArgs& a, const int4* tiles, int n_tiles, cudaStream_t stream) {
  const bool cache_ok = a.kv_type == KvType::fp16
                            ? a.k_cache && a.v_cache
                            : (a.kv_type == KvType::q8 || a.kv_type == KvType::q4) && a.k_codes && a.v_codes &&
                                  a.k_scales && a.v_scales;
  if (!cache_ok) return cudaErrorInvalidValue;
  const bool q_ok = a.q16 ? !a.q && a.ldq % 4 == 0 && reinterpret_cast<std::uintptr_t>(a.q16) % 8 == 0 : a.q != nullptr;
  if (!q_ok || !a.out || !a.positions || !a.block_tables || !tiles || n_tiles < 0 ||
      a.heads <= 0 || a.kv_heads <= 0 || a.heads % a.kv_heads != 0 || a.page_size <= 0 || a.max_pages <= 0)
    return cudaErrorInvalidValue;
  if (n_tiles == 0) return 0;
  if (a.head_dim != 128 && a.head_dim != 64) return cudaErrorInvalidValue;
  if (n_tiles > 65535) return cudaErrorInvalidValue;  // grid.y limit (4M rows)
  const dim3 grid(a.heads, n_tiles);
  int err = 0;
  if (attention_prefill_tile_rows(a.head_dim, a.kv_type, a.rows, a.heads) == kWideRows) {
    constexpr std::size_t smem = prefill_wide_smem_bytes<128>();
    err = static_cast<int>(
        cudaFuncSetAttribute(attention_prefill_wide_kernel<128>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    if (err != 0) return err;
    attention_prefill_wide_kernel<128><<<grid, kThreads, smem, stream>>>(a, tiles);
    return static_cast<int>(cudaGetLastError());
  }
  auto launch = [&](auto hd_tag) {
    constexpr int HD = decltype(hd_tag)::value;
    constexpr std::size_t smem = prefill_smem_bytes<HD>();
    auto go = [&](auto kernel) {
      // Above 48 KB of dynamic shared memory needs the opt-in (per device; cheap next to a prefill).
      err = static_cast<int>(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
      if (err == 0) kernel<<<grid, kThreads, smem, stream>>>(a, tiles);
    };
    switch (a.kv_type) {
      case KvType::q8: go(attention_prefill_kernel<HD, KvType::q8>); break;
      case KvType::q4: go(attention_prefill_kernel<HD, KvType::q4>); break;
      default: go(attention_prefill_kernel<HD, KvType::fp16>); break;
    }
  };
  if (a.head_dim == 128) {
    launch(std::integral_constant<int, 128>{});
  } else {
    launch(std::integral_constant<int, 64>{});
  }
  if (err != 0) return err;
  return static_cast<int>(cudaGetLastError());
}

bool attention_prefill_supports(int head_dim) { return head_dim == 64 || head_dim == 128; }

int attention_prefill_tile_rows(int head_dim, KvType type, int rows, int heads) {
  // NIBBLE_ATTN_PREFILL_ROWS=64 or 128 forces a tile size where it is supported (tests, A/B runs);
  // read per call so that tests can switch it.
  const char* v = std::getenv("NIBBLE_ATTN_PREFILL_ROWS");
  const int forced = v ? std::atoi(v) : 0;
  // Two wide blocks per SM need ~210 KB of shared memory (H100/H200; not A100 or sm_86 parts).
  const DeviceInfo d = device_info();
  const bool wide_ok = head_dim == 128 && type == KvType::fp16 && d.smem_optin >= 2 * (prefill_wide_smem_bytes<128>() + 1024);
  if (!wide_ok || forced == kRowsPerBlock) return kRowsPerBlock;
  if (forced == kWideRows) return kWideRows;
  // Short prompts keep the 64-row blocks while 128-row ones would leave SMs without two blocks.
  const long wide_blocks = static_cast<long>((rows + kWideRows - 1) / kWideRows) * heads;
  return wide_blocks >= 2L * std::max(1, d.sms) ? kWideRows : kRowsPerBlock;
}

}  // namespace nibble::kernels
