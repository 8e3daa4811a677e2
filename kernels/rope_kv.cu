// RoPE (HF rotate_half convention: pairs (i, i + rotary_dim/2)) on q and k, then K/V rows written
// into their paged cache slots as fp16, or as q8/q4 codes with per-group fp16 scales. Block = (row,
// a run of heads): the row's cos/sin are computed once per block in fp32 exactly as transformers
// computes them (angle = position * inv_freq, accurate sincosf), then each thread rotates pairs;
// blocks of key heads also store K and V (quantized caches: staged in shared memory, then one warp
// per group).
#include "nibble_kernels/ops.h"

#include "kv_quant.cuh"
#include "launch.cuh"

#include <cstdint>
#include <cstdlib>

namespace nibble::kernels {
namespace {

constexpr int kHeadsPerBlock = 8;
constexpr int kThreads = 256;

// Waits for the q/k/v rows, then fills cos/sin of row r's position (scaled by attn_factor) for the
// block; returns the position. Ends with a barrier.
__device__ __forceinline__ int row_cos_sin(const RopeKvArgs& a, int r, float* s_cos, float* s_sin) {
  allow_next_launch();
  grid_dependency_wait();
  const int pos = a.positions[r];
  for (int i = threadIdx.x; i < a.rotary_dim / 2; i += kThreads) {
    float s, c;
    sincosf(static_cast<float>(pos) * a.inv_freq[i], &s, &c);
    s_cos[i] = c * a.attn_factor;
    s_sin[i] = s * a.attn_factor;
  }
  __syncthreads();
  return pos;
}

// Quantized caches (q8/q4): blocks of 8 heads; rotated K and V rows are staged in shared memory,
// then one warp quantizes each group.
template <KvType T>
__global__ void __launch_bounds__(kThreads) rope_kv_quant_kernel(const RopeKvArgs a) {
  __shared__ float s_cos[128], s_sin[128];
  __shared__ float s_x[2 * kHeadsPerBlock * 256];  // this block's rotated K (0) and V (1) rows
  const int r = blockIdx.x;
  const int pos = row_cos_sin(a, r, s_cos, s_sin);
  const int half_dim = a.rotary_dim / 2;
  const int head0 = blockIdx.y * kHeadsPerBlock;
  const int total_heads = a.heads + a.kv_heads;
  const int hd = a.head_dim;
  const int kv_width = a.kv_heads * hd;
  const int seq = a.row_seq[r];
  const int page = a.block_tables[static_cast<std::size_t>(seq) * a.max_pages + pos / a.page_size];
  const std::size_t slot = (static_cast<std::size_t>(page) * a.page_size + pos % a.page_size) * kv_width;
#pragma unroll 4
  for (int t = threadIdx.x; t < kHeadsPerBlock * hd; t += kThreads) {
    const int h = head0 + t / hd;
    const int i = t % hd;
    if (h >= total_heads) break;
    if (h < a.heads) {  // query head: rotate in place (pairs handled by the thread of the lower index)
      if (i >= half_dim) continue;
      float* v = a.q + static_cast<std::size_t>(r) * a.ldq + static_cast<std::size_t>(h) * hd;
      const float x0 = v[i], x1 = v[i + half_dim];
      v[i] = x0 * s_cos[i] - x1 * s_sin[i];
      v[i + half_dim] = x1 * s_cos[i] + x0 * s_sin[i];
      continue;
    }
    const int kh = h - a.heads;
    const float* k = a.k + static_cast<std::size_t>(r) * a.ldk + static_cast<std::size_t>(kh) * hd;
    const float* vv = a.v + static_cast<std::size_t>(r) * a.ldv + static_cast<std::size_t>(kh) * hd;
    float out;
    if (i < half_dim) {
      out = k[i] * s_cos[i] - k[i + half_dim] * s_sin[i];
    } else if (i < a.rotary_dim) {
      const int j = i - half_dim;
      out = k[i] * s_cos[j] + k[j] * s_sin[j];
    } else {
      out = k[i];
    }
    s_x[t] = out;  // t = (h - head0) * hd + i
    s_x[kHeadsPerBlock * hd + t] = vv[i];
  }
  if (head0 + kHeadsPerBlock <= a.heads) return;  // query heads only (uniform over the block)
  __syncthreads();
  const int group = kv_quant_group(hd);
  const int groups = hd / group;
  const std::size_t row0 = slot / static_cast<std::size_t>(hd);  // cache row of kv head 0
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  // Tasks: (head of the block, group); one warp quantizes the group's K, then its V.
  for (int task = warp; task < kHeadsPerBlock * groups; task += kThreads / 32) {
    const int lh = task / groups;
    const int g = task % groups;
    const int h = head0 + lh;
    if (h < a.heads || h >= total_heads) continue;
    const std::size_t row = row0 + static_cast<std::size_t>(h - a.heads);
    const float* xk = s_x + lh * hd + g * group;
    const float* xv = xk + kHeadsPerBlock * hd;
    if constexpr (T == KvType::q8) {
      const std::size_t c = row * hd + g * group, sc = row * groups + g;
      kv_quantize_group_warp<T>(xk, group, a.k_codes + c, a.k_scales + sc, lane);
      kv_quantize_group_warp<T>(xv, group, a.v_codes + c, a.v_scales + sc, lane);
    } else {
      const std::size_t c = row * (hd / 2) + g * group / 2, sc = (row * groups + g) * 2;
      kv_quantize_group_warp<T>(xk, group, a.k_codes + c, a.k_scales + sc, lane);
      kv_quantize_group_warp<T>(xv, group, a.v_codes + c, a.v_scales + sc, lane);
    }
  }
}

__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }

__device__ __forceinline__ float4 load4(const __half* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  const float2 lo = __half22float2(*reinterpret_cast<const half2*>(&u.x));
  const float2 hi = __half22float2(*reinterpret_cast<const half2*>(&u.y));
  return make_float4(lo.x, lo.y, hi.x, hi.y);
}

__device__ __forceinline__ void store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }

__device__ __forceinline__ void store4_half(__half* p, float4 v) {
  const half2 lo = __floats2half2_rn(v.x, v.y), hi = __floats2half2_rn(v.z, v.w);
  uint2 u;
  u.x = *reinterpret_cast<const unsigned*>(&lo);
  u.y = *reinterpret_cast<const unsigned*>(&hi);
  *reinterpret_cast<uint2*>(p) = u;
}

__device__ __forceinline__ void store4(__half* p, float4 v) { store4_half(p, v); }

// The q/k/v rows of RopeKvArgs as fp32 or (prompt rows) fp16.
template <class T> struct RopeRows;
template <> struct RopeRows<float> {
  static __device__ float* q(const RopeKvArgs& a) { return a.q; }
  static __device__ const float* k(const RopeKvArgs& a) { return a.k; }
  static __device__ const float* v(const RopeKvArgs& a) { return a.v; }
};
template <> struct RopeRows<__half> {
  static __device__ __half* q(const RopeKvArgs& a) { return a.q16; }
  static __device__ const __half* k(const RopeKvArgs& a) { return a.k16; }
  static __device__ const __half* v(const RopeKvArgs& a) { return a.v16; }
};

// The fp16 kernel's work with 16-byte accesses (rotary_dim a multiple of 8, head_dim of 4, rows
// and bases 16-byte aligned: rope_kv_append checks): a unit is 4 consecutive pairs of a head (or
// 4 values of a V row), and a thread loads kBatch units before it writes any, so its loads are in
// flight together (stores to q in place would otherwise order each load after the last store).
template <class T>
__device__ __forceinline__ void rope_kv_f16_vec(const RopeKvArgs& a, int r, int head0, int head1, std::size_t slot,
                                                const float* s_cos, const float* s_sin) {
  T* const qrows = RopeRows<T>::q(a);
  const T* const krows = RopeRows<T>::k(a);
  const T* const vrows = RopeRows<T>::v(a);
  constexpr int kBatch = 4;
  const int half_dim = a.rotary_dim / 2, hd = a.head_dim;
  const int quads = half_dim / 4;
  const int units = (head1 - head0) * quads;
  for (int u0 = threadIdx.x; u0 < units; u0 += kBatch * kThreads) {
    float4 x0[kBatch], x1[kBatch];
    int hb[kBatch], ib[kBatch];  // each unit's head and first pair index
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int u = u0 + b * kThreads;
      if (u < units) {
        const int h = head0 + u / quads, i = (u % quads) * 4;
        hb[b] = h;
        ib[b] = i;
        const T* src = h < a.heads
                           ? qrows + static_cast<std::size_t>(r) * a.ldq + static_cast<std::size_t>(h) * hd
                           : krows + static_cast<std::size_t>(r) * a.ldk + static_cast<std::size_t>(h - a.heads) * hd;
        x0[b] = load4(src + i);
        x1[b] = load4(src + i + half_dim);
      }
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int u = u0 + b * kThreads;
      if (u < units) {
        const int h = hb[b], i = ib[b];
        const float4 c = load4(s_cos + i), sn = load4(s_sin + i);
        const float4 y0 = make_float4(x0[b].x * c.x - x1[b].x * sn.x, x0[b].y * c.y - x1[b].y * sn.y,
                                      x0[b].z * c.z - x1[b].z * sn.z, x0[b].w * c.w - x1[b].w * sn.w);
        const float4 y1 = make_float4(x1[b].x * c.x + x0[b].x * sn.x, x1[b].y * c.y + x0[b].y * sn.y,
                                      x1[b].z * c.z + x0[b].z * sn.z, x1[b].w * c.w + x0[b].w * sn.w);
        if (h < a.heads) {
          T* v = qrows + static_cast<std::size_t>(r) * a.ldq + static_cast<std::size_t>(h) * hd;
          store4(v + i, y0);
          store4(v + i + half_dim, y1);
        } else {
          __half* dst = a.k_cache + slot + static_cast<std::size_t>(h - a.heads) * hd;
          store4_half(dst + i, y0);
          store4_half(dst + i + half_dim, y1);
        }
      }
    }
  }
  // V rows, and key dims past rotary_dim, as fp16 copies.
  const int kv0 = max(head0, a.heads);
  if (kv0 >= head1) return;
  const int vq = hd / 4;
  const int vunits = (head1 - kv0) * vq;
  const T* vrow = vrows + static_cast<std::size_t>(r) * a.ldv;
  for (int u0 = threadIdx.x; u0 < vunits; u0 += kBatch * kThreads) {
    float4 x[kBatch];
    std::size_t off[kBatch];  // each unit's offset in the row (and in the cache slot)
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int u = u0 + b * kThreads;
      if (u < vunits) {
        off[b] = static_cast<std::size_t>(kv0 - a.heads + u / vq) * hd + (u % vq) * 4;
        x[b] = load4(vrow + off[b]);
      }
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b)
      if (u0 + b * kThreads < vunits) store4_half(a.v_cache + slot + off[b], x[b]);
  }
  if (a.rotary_dim < hd) {
    const int tail = hd - a.rotary_dim;
    for (int t = threadIdx.x; t < (head1 - kv0) * tail; t += kThreads) {
      const std::size_t src = static_cast<std::size_t>(kv0 - a.heads + t / tail) * hd + a.rotary_dim + t % tail;
      a.k_cache[slot + src] = __float2half_rn(static_cast<float>(krows[static_cast<std::size_t>(r) * a.ldk + src]));
    }
  }
}

// fp16 cache: heads_per_block heads of one row per block (all of them for long prompts, so the
// row's cos/sin are computed once). With `vec`, rope_kv_f16_vec; otherwise thread t takes pair index
// t % half of head t / half (+ a stride of kThreads / half heads), so there is no division per
// element and every access of a warp is contiguous.
__global__ void __launch_bounds__(kThreads) rope_kv_f16_kernel(const RopeKvArgs a, int heads_per_block, bool vec) {
  __shared__ __align__(16) float s_cos[128];
  __shared__ __align__(16) float s_sin[128];
  const int r = blockIdx.x;
  const int pos = row_cos_sin(a, r, s_cos, s_sin);
  const int half_dim = a.rotary_dim / 2;
  const int hd = a.head_dim;
  const int head0 = blockIdx.y * heads_per_block;
  const int head1 = min(head0 + heads_per_block, a.heads + a.kv_heads);
  const int seq = a.row_seq[r];
  const int page = a.block_tables[static_cast<std::size_t>(seq) * a.max_pages + pos / a.page_size];
  const std::size_t slot = (static_cast<std::size_t>(page) * a.page_size + pos % a.page_size) * a.kv_heads * hd;
  if (vec) {
    rope_kv_f16_vec<float>(a, r, head0, head1, slot, s_cos, s_sin);
    return;
  }
  // Rotated pairs (i, i + half_dim) of query heads (in place) and key heads (into the cache).
  const int pair_step = kThreads / half_dim;  // half_dim <= 128
  const int i = threadIdx.x % half_dim;
  const float c = s_cos[i], sn = s_sin[i];
  if (threadIdx.x < pair_step * half_dim) {
    for (int h = head0 + threadIdx.x / half_dim; h < head1; h += pair_step) {
      if (h < a.heads) {
        float* v = a.q + static_cast<std::size_t>(r) * a.ldq + static_cast<std::size_t>(h) * hd;
        const float x0 = v[i], x1 = v[i + half_dim];
        v[i] = x0 * c - x1 * sn;
        v[i + half_dim] = x1 * c + x0 * sn;
      } else {
        const int kh = h - a.heads;
        const float* k = a.k + static_cast<std::size_t>(r) * a.ldk + static_cast<std::size_t>(kh) * hd;
        const float x0 = k[i], x1 = k[i + half_dim];
        __half* dst = a.k_cache + slot + static_cast<std::size_t>(kh) * hd;
        dst[i] = __float2half_rn(x0 * c - x1 * sn);
        dst[i + half_dim] = __float2half_rn(x1 * c + x0 * sn);
      }
    }
  }
  // V rows and the unrotated tail of key heads (dims >= rotary_dim): plain fp16 copies.
  const int kv0 = max(head0, a.heads), kv1 = head1;
  if (kv0 >= kv1) return;
  const int dim_step = kThreads / hd > 0 ? kThreads / hd : 1;
  for (int t = threadIdx.x; t < dim_step * hd; t += kThreads) {
    const int d = t % hd;
    for (int h = kv0 + t / hd; h < kv1; h += dim_step) {
      const int kh = h - a.heads;
      const std::size_t src = static_cast<std::size_t>(kh) * hd + d;
      a.v_cache[slot + src] = __float2half_rn(a.v[static_cast<std::size_t>(r) * a.ldv + src]);
      if (d >= a.rotary_dim) a.k_cache[slot + src] = __float2half_rn(a.k[static_cast<std::size_t>(r) * a.ldk + src]);
    }
  }
}

// fp16 prompt rows (RopeKvArgs::q16): the 16-byte path only, heads_per_block heads of a row.
__global__ void __launch_bounds__(kThreads) rope_kv_f16_rows_kernel(const RopeKvArgs a, int heads_per_block) {
  __shared__ __align__(16) float s_cos[128];
  __shared__ __align__(16) float s_sin[128];
  const int r = blockIdx.x;
  const int pos = row_cos_sin(a, r, s_cos, s_sin);
  const int head0 = blockIdx.y * heads_per_block;
  const int head1 = min(head0 + heads_per_block, a.heads + a.kv_heads);
  const int page = a.block_tables[static_cast<std::size_t>(a.row_seq[r]) * a.max_pages + pos / a.page_size];
  const std::size_t slot = (static_cast<std::size_t>(page) * a.page_size + pos % a.page_size) * a.kv_heads * a.head_dim;
  rope_kv_f16_vec<__half>(a, r, head0, head1, slot, s_cos, s_sin);
}

// Long fp16 prompts with rotary_dim == head_dim (a multiple of 16) and 16-byte rows: one block per
// row, and a unit is 8 pairs of a q/k head (two 16-byte loads) or 8 values of a V row (one). Each
// thread issues the loads of kRowUnits units, rotation and V alike, before its first store, so a
// block's row goes through one round trip instead of two (rotation, then V) of 8-byte pieces.
constexpr int kRowUnits = 4;

__device__ __forceinline__ float2 h2f(std::uint32_t v) { return __half22float2(*reinterpret_cast<const half2*>(&v)); }

__global__ void __launch_bounds__(kThreads) rope_kv_f16_rows16_kernel(const RopeKvArgs a) {
  __shared__ __align__(16) float s_cos[128];
  __shared__ __align__(16) float s_sin[128];
  const int r = blockIdx.x;
  const int pos = row_cos_sin(a, r, s_cos, s_sin);
  const int page = a.block_tables[static_cast<std::size_t>(a.row_seq[r]) * a.max_pages + pos / a.page_size];
  const std::size_t slot = (static_cast<std::size_t>(page) * a.page_size + pos % a.page_size) * a.kv_heads * a.head_dim;
  const int hd = a.head_dim, half_dim = hd / 2;
  const int per_head = half_dim / 8;  // rotation units of a head
  const int rot_units = (a.heads + a.kv_heads) * per_head;
  const int total = rot_units + a.kv_heads * (hd / 8);
  __half* const qrow = a.q16 + static_cast<std::size_t>(r) * a.ldq;  // rotated in place
  const __half* krow = a.k16 + static_cast<std::size_t>(r) * a.ldk;
  const __half* vrow = a.v16 + static_cast<std::size_t>(r) * a.ldv;
  for (int u0 = threadIdx.x; u0 < total; u0 += kRowUnits * kThreads) {
    uint4 x0[kRowUnits], x1[kRowUnits];
#pragma unroll
    for (int b = 0; b < kRowUnits; ++b) {
      const int u = u0 + b * kThreads;
      if (u < rot_units) {
        const int h = u / per_head, i = (u - h * per_head) * 8;
        const __half* src = h < a.heads ? qrow + h * hd : krow + (h - a.heads) * hd;
        x0[b] = *reinterpret_cast<const uint4*>(src + i);
        x1[b] = *reinterpret_cast<const uint4*>(src + i + half_dim);
      } else if (u < total) {
        x0[b] = *reinterpret_cast<const uint4*>(vrow + (u - rot_units) * 8);
      }
    }
#pragma unroll
    for (int b = 0; b < kRowUnits; ++b) {
      const int u = u0 + b * kThreads;
      if (u >= total) break;
      if (u >= rot_units) {
        *reinterpret_cast<uint4*>(a.v_cache + slot + (u - rot_units) * 8) = x0[b];
        continue;
      }
      const int h = u / per_head, i = (u - h * per_head) * 8;
      const std::uint32_t* lo = &x0[b].x;
      const std::uint32_t* hi = &x1[b].x;
      uint4 y0, y1;
      std::uint32_t* o0 = &y0.x;
      std::uint32_t* o1 = &y1.x;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 a0 = h2f(lo[j]), a1 = h2f(hi[j]);
        const float2 c = *reinterpret_cast<const float2*>(s_cos + i + 2 * j);
        const float2 sn = *reinterpret_cast<const float2*>(s_sin + i + 2 * j);
        o0[j] = kv_pack_half2(a0.x * c.x - a1.x * sn.x, a0.y * c.y - a1.y * sn.y);
        o1[j] = kv_pack_half2(a1.x * c.x + a0.x * sn.x, a1.y * c.y + a0.y * sn.y);
      }
      __half* dst = h < a.heads ? qrow + h * hd : a.k_cache + slot + static_cast<std::size_t>(h - a.heads) * hd;
      *reinterpret_cast<uint4*>(dst + i) = y0;
      *reinterpret_cast<uint4*>(dst + i + half_dim) = y1;
    }
  }
}

}  // namespace

int rope_kv_append(const RopeKvArgs& a, cudaStream_t stream) {
  if (a.q16) {
    const auto aligned8 = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 8 == 0; };
    if (a.q || a.k || a.v || !a.k16 || !a.v16 || a.kv_type != KvType::fp16 || !a.k_cache || !a.v_cache || !a.inv_freq ||
        !a.positions || !a.row_seq || !a.block_tables || a.rows < 0 || a.heads <= 0 || a.kv_heads <= 0 ||
        a.head_dim <= 0 || a.head_dim > 256 || a.head_dim % 4 != 0 || a.rotary_dim <= 0 || a.rotary_dim > a.head_dim ||
        a.rotary_dim % 8 != 0 || a.page_size <= 0 || a.max_pages <= 0 || a.ldq % 4 != 0 || a.ldk % 4 != 0 ||
        a.ldv % 4 != 0 || !aligned8(a.q16) || !aligned8(a.k16) || !aligned8(a.v16) || !aligned8(a.k_cache) ||
        !aligned8(a.v_cache))
      return cudaErrorInvalidValue;
    if (a.rows == 0) return 0;
    const int total = a.heads + a.kv_heads;
    const auto aligned16 = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
    if (a.rows >= 64 && a.rotary_dim == a.head_dim && a.head_dim % 16 == 0 && a.ldq % 8 == 0 && a.ldk % 8 == 0 &&
        a.ldv % 8 == 0 && aligned16(a.q16) && aligned16(a.k16) && aligned16(a.v16) && aligned16(a.k_cache) &&
        aligned16(a.v_cache))
      return launch_pdl(rope_kv_f16_rows16_kernel, dim3(a.rows), dim3(kThreads), 0, stream, a);
    const int per_block = a.rows >= 64 ? total : kHeadsPerBlock;
    const dim3 grid(a.rows, (total + per_block - 1) / per_block);
    return launch_pdl(rope_kv_f16_rows_kernel, grid, dim3(kThreads), 0, stream, a, per_block);
  }
  const bool quant = a.kv_type != KvType::fp16;
  if (!a.q || !a.k || !a.v || !a.inv_freq || !a.positions || !a.row_seq || !a.block_tables || a.rows < 0 ||
      a.heads <= 0 || a.kv_heads <= 0 || a.head_dim <= 0 || a.head_dim > 256 || a.rotary_dim <= 0 ||
      a.rotary_dim > a.head_dim || a.rotary_dim % 2 != 0 || a.page_size <= 0 || a.max_pages <= 0)
    return cudaErrorInvalidValue;
  if (!quant && (!a.k_cache || !a.v_cache)) return cudaErrorInvalidValue;
  if (quant && (a.kv_type != KvType::q8 && a.kv_type != KvType::q4)) return cudaErrorInvalidValue;
  if (quant && (!a.k_codes || !a.v_codes || !a.k_scales || !a.v_scales || !kv_quant_supports(a.head_dim)))
    return cudaErrorInvalidValue;
  if (a.rows == 0) return 0;
  const int total = a.heads + a.kv_heads;
  if (a.kv_type == KvType::fp16) {
    // Few rows (decode): 8 heads per block for parallelism; many rows: one block per row.
    const int per_block = a.rows >= 64 ? total : kHeadsPerBlock;
    const dim3 grid(a.rows, (total + per_block - 1) / per_block);
    auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
    static const bool scalar = [] {  // NIBBLE_ROPE_SCALAR=1: the scalar path (A/B timing)
      const char* v = std::getenv("NIBBLE_ROPE_SCALAR");
      return v && v[0] == '1';
    }();
    const bool vec = !scalar && a.rotary_dim % 8 == 0 && a.head_dim % 4 == 0 &&
                     a.ldq % 4 == 0 && a.ldk % 4 == 0 && a.ldv % 4 == 0 && aligned(a.q) && aligned(a.k) &&
                     aligned(a.v) && reinterpret_cast<std::uintptr_t>(a.k_cache) % 8 == 0 &&
                     reinterpret_cast<std::uintptr_t>(a.v_cache) % 8 == 0;
    return launch_pdl(rope_kv_f16_kernel, grid, dim3(kThreads), 0, stream, a, per_block, vec);
  }
  const dim3 grid(a.rows, (total + kHeadsPerBlock - 1) / kHeadsPerBlock);
  return a.kv_type == KvType::q8 ? launch_pdl(rope_kv_quant_kernel<KvType::q8>, grid, dim3(kThreads), 0, stream, a)
                                 : launch_pdl(rope_kv_quant_kernel<KvType::q4>, grid, dim3(kThreads), 0, stream, a);
}

}  // namespace nibble::kernels
