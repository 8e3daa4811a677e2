// Tensor-core attention for prompt chunks (FlashAttention-2 style): a block takes 64 consecutive
// query rows of one sequence and one query head; 4 warps each own 16 rows. Key/value tiles of 64
// are gathered from the paged cache into shared memory, two stages deep for an fp16 cache (the next
// tile's copies run under this tile's products; q8/q4 caches are dequantized to fp16 as they are
// staged: the kernel is templated on the cache type); S = Q K^T and O += P V run on
// mma.sync m16n8k16 (fp16 in, fp32 accumulate) with an online softmax in registers, so memory
// stays O(rows). Head dims 64 and 128; others use attention_rows_serial.
#include <cuda_fp16.h>

#include <cfloat>
#include <cstdint>
#include <type_traits>

#include "async_copy.cuh"
#include "kv_quant.cuh"
#include "nibble_kernels/attention.h"

namespace nibble::kernels {
namespace {

constexpr int kRowsPerBlock = 64;
constexpr int kKeysPerTile = 64;
constexpr int kThreads = 128;

__device__ __forceinline__ void mma16816(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* p) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* p) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ std::uint32_t pack_half2(float lo, float hi) {
  const half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&h);
}

struct Tile {
  int row_begin;  // first row of the tile in the step
  int rows;       // <= 64, all of one sequence
};

// Shared memory of a block: two stages of (K tile, V tile), 64 keys of HD halves each (+8 halves
// of row padding). Q is staged in the second stage before the loop starts.
template <int HD>
constexpr std::size_t prefill_smem_bytes() {
  return 2u * 2u * kKeysPerTile * (HD + 8) * sizeof(__half);
}

template <int HD, KvType T>
__global__ void __launch_bounds__(kThreads) attention_prefill_kernel(const AttentionArgs a, const int4* tiles) {
  constexpr int kStride = HD + 8;  // halves per smem row: +16 bytes breaks ldmatrix bank conflicts
  constexpr int kTileHalves = kKeysPerTile * kStride;
  // fp16 caches: the next K/V tile is copied (cp.async) into the other stage while this one is
  // used. q8/q4 caches are dequantized through registers as they are staged, one tile at a time.
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __half* s_stage = reinterpret_cast<__half*>(smem_raw);  // [2][K, V][kKeysPerTile][kStride]
  __half* s_q = s_stage + 2 * kTileHalves;                // stage 1 (free until the first prefetch into it)
  __shared__ int s_pos[kRowsPerBlock];

  // Last tiles first: they see the most keys, so the long blocks start early (less tail).
  const int4 tile = tiles[gridDim.x - 1 - blockIdx.x];  // {row_begin, rows, seq, unused}
  const int head = blockIdx.y;
  const int group = a.heads / a.kv_heads;
  const int kvh = head / group;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int* table = a.block_tables + static_cast<std::size_t>(tile.z) * a.max_pages;
  constexpr float kLog2e = 1.4426950408889634f;
  const float qscale = a.scale * kLog2e;

  // Q tile (fp32 rotated) -> fp16, pre-scaled for exp2.
  for (int i = tid; i < kRowsPerBlock * HD; i += kThreads) {
    const int r = i / HD, d = i % HD;
    float v = 0.0f;
    if (r < tile.y) v = a.q[static_cast<std::size_t>(tile.x + r) * a.ldq + head * HD + d] * qscale;
    s_q[r * kStride + d] = __float2half_rn(v);
  }
  int max_pos = 0, min_start = 0x7fffffff;
  for (int r = 0; r < kRowsPerBlock; ++r) {
    if (r < tile.y) {
      const int p = a.positions[tile.x + r];
      max_pos = max(max_pos, p);
      min_start = min(min_start, a.window > 0 ? max(0, p - a.window + 1) : 0);
    }
  }
  if (tid < kRowsPerBlock) s_pos[tid] = tid < tile.y ? a.positions[tile.x + tid] : -1;
  __syncthreads();

  // This warp's Q fragments for every 16-wide slice of the head dimension.
  std::uint32_t qf[HD / 16][4];
#pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks)
    ldmatrix_x4(qf[ks], &s_q[(warp * 16 + (lane % 16)) * kStride + ks * 16 + (lane / 16) * 8]);

  const int g = lane >> 2, t = lane & 3;
  const int row0 = warp * 16 + g;  // rows row0 and row0 + 8 of the block
  const int pos_a = s_pos[row0], pos_b = s_pos[row0 + 8];
  const int start_a = a.window > 0 ? pos_a - a.window + 1 : 0;
  const int start_b = a.window > 0 ? pos_b - a.window + 1 : 0;
  float o[HD / 8][4];
#pragma unroll
  for (int j = 0; j < HD / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float m_a = -FLT_MAX, m_b = -FLT_MAX, l_a = 0.0f, l_b = 0.0f;

  const int kt_begin = (min_start == 0x7fffffff ? 0 : min_start) / kKeysPerTile;
  const int kt_end = max_pos / kKeysPerTile;
  constexpr int kChunks = HD / 8;  // 16-byte chunks (8 fp16 values) per key row
  constexpr int kGroup = kv_quant_group(HD);
  // Stages tile kt into stage buffer `st` (K then V): asynchronous copies for an fp16 cache.
  auto stage_tile = [&](int kt, int st) {
    __half* s_k = s_stage + (2 * st) * kTileHalves;
    __half* s_v = s_k + kTileHalves;
    for (int i = tid; i < kKeysPerTile * kChunks; i += kThreads) {
      const int kr = i / kChunks, c = i % kChunks;
      const int key = kt * kKeysPerTile + kr;
      const bool valid = key <= max_pos;
      std::size_t row = 0;
      if (valid) {
        const int page = table[key / a.page_size];
        row = (static_cast<std::size_t>(page) * a.page_size + key % a.page_size) * a.kv_heads + kvh;
      }
      if constexpr (T == KvType::fp16) {
        cp_async16(&s_k[kr * kStride + c * 8], a.k_cache + row * HD + c * 8, valid);
        cp_async16(&s_v[kr * kStride + c * 8], a.v_cache + row * HD + c * 8, valid);
      } else {
        uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
        if (valid) {
          kv = kv_load8<T>({a.k_codes, a.k_scales}, row, HD, kGroup, c);
          vv = kv_load8<T>({a.v_codes, a.v_scales}, row, HD, kGroup, c);
        }
        *reinterpret_cast<uint4*>(&s_k[kr * kStride + c * 8]) = kv;
        *reinterpret_cast<uint4*>(&s_v[kr * kStride + c * 8]) = vv;
      }
    }
    if constexpr (T == KvType::fp16) cp_async_commit();
  };
  if constexpr (T == KvType::fp16) stage_tile(kt_begin, 0);
  __syncthreads();  // every warp holds its Q fragments: stage 1 is free
  for (int kt = kt_begin; kt <= kt_end; ++kt) {
    const int st = (kt - kt_begin) & 1;
    if constexpr (T == KvType::fp16) {
      if (kt < kt_end) {
        stage_tile(kt + 1, st ^ 1);
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
    } else {
      stage_tile(kt, st);
    }
    __syncthreads();
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
    // Mask (causal, window, tile end) and the online softmax update.
    float mx_a = -FLT_MAX, mx_b = -FLT_MAX;
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int key = kt * kKeysPerTile + j * 8 + 2 * t + c;
        if (key > pos_a || key < start_a) s[j][c] = -FLT_MAX;
        if (key > pos_b || key < start_b) s[j][2 + c] = -FLT_MAX;
        mx_a = fmaxf(mx_a, s[j][c]);
        mx_b = fmaxf(mx_b, s[j][2 + c]);
      }
#pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
      mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, off));
      mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, off));
    }
    const float new_a = fmaxf(m_a, mx_a), new_b = fmaxf(m_b, mx_b);
    // Rows with nothing visible yet keep a zero shift (avoids inf - inf).
    const float base_a = new_a == -FLT_MAX ? 0.0f : new_a;
    const float base_b = new_b == -FLT_MAX ? 0.0f : new_b;
    const float corr_a = exp2f(m_a - base_a), corr_b = exp2f(m_b - base_b);
    m_a = new_a;
    m_b = new_b;
    float sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      s[j][0] = s[j][0] == -FLT_MAX ? 0.0f : exp2f(s[j][0] - base_a);
      s[j][1] = s[j][1] == -FLT_MAX ? 0.0f : exp2f(s[j][1] - base_a);
      s[j][2] = s[j][2] == -FLT_MAX ? 0.0f : exp2f(s[j][2] - base_b);
      s[j][3] = s[j][3] == -FLT_MAX ? 0.0f : exp2f(s[j][3] - base_b);
      sum_a += s[j][0] + s[j][1];
      sum_b += s[j][2] + s[j][3];
    }
    l_a = l_a * corr_a + sum_a;  // per-thread partial sums; reduced across the quad at the end
    l_b = l_b * corr_b + sum_b;
#pragma unroll
    for (int j = 0; j < HD / 8; ++j) {
      o[j][0] *= corr_a;
      o[j][1] *= corr_a;
      o[j][2] *= corr_b;
      o[j][3] *= corr_b;
    }
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
    __syncthreads();  // the next iteration's prefetch reuses this stage
  }
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

}  // namespace

int attention_prefill(const AttentionArgs& a, const int4* tiles, int n_tiles, cudaStream_t stream) {
  const bool cache_ok = a.kv_type == KvType::fp16
                            ? a.k_cache && a.v_cache
                            : (a.kv_type == KvType::q8 || a.kv_type == KvType::q4) && a.k_codes && a.v_codes &&
                                  a.k_scales && a.v_scales;
  if (!cache_ok) return cudaErrorInvalidValue;
  if (!a.q || !a.out || !a.positions || !a.block_tables || !tiles || n_tiles < 0 ||
      a.heads <= 0 || a.kv_heads <= 0 || a.heads % a.kv_heads != 0 || a.page_size <= 0 || a.max_pages <= 0)
    return cudaErrorInvalidValue;
  if (n_tiles == 0) return 0;
  if (a.head_dim != 128 && a.head_dim != 64) return cudaErrorInvalidValue;
  const dim3 grid(n_tiles, a.heads);
  int err = 0;
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

}  // namespace nibble::kernels
