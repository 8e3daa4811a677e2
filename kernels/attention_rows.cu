// Split-K attention for query rows over the paged KV cache. Block = (key chunk of 64, kv head, row):
// it scores the chunk for the kv head's group of query heads, forms exp(s - max) weights and the
// weighted sum of V; with several chunks, partial (max, sum, acc) go to a workspace and the last
// chunk block to arrive combines them in chunk order. Head dims 64/128/256 do the chunk's products
// on tensor cores (attention_rows_mma_kernel), others in fp32 FMAs (attention_rows_kernel).
// Kernels are templated on the cache type: q8/q4 rows are dequantized to fp16 as they are staged
// (or read), nothing else changes.
// A block stages the keys written by earlier steps before it waits on the previous kernel, so the
// cache reads overlap the kernels before it (RoPE, the q/k/v GEMV).
#include "nibble_kernels/attention.h"

#include "async_copy.cuh"
#include "kv_quant.cuh"
#include "launch.cuh"
#include "mma_tile.cuh"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

namespace nibble::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kChunk = 64;
constexpr int kMaxGroup = 16;  // query heads per kv head
constexpr int kMaxHeadDim = 256;

// Cache row (kv_cache.h) of position p of kv head kvh through a sequence's block table.
__device__ __forceinline__ std::size_t cache_row(const AttentionArgs& a, const int* table, int p, int kvh) {
  const int page = table[p / a.page_size];
  return (static_cast<std::size_t>(page) * a.page_size + p % a.page_size) * a.kv_heads + kvh;
}

template <KvType T>
__device__ __forceinline__ KvPoolView k_pool(const AttentionArgs& a) {
  if constexpr (T == KvType::fp16) return {a.k_cache, nullptr};
  else return {a.k_codes, a.k_scales};
}

template <KvType T>
__device__ __forceinline__ KvPoolView v_pool(const AttentionArgs& a) {
  if constexpr (T == KvType::fp16) return {a.v_cache, nullptr};
  else return {a.v_codes, a.v_scales};
}

// Argument checks shared by the entry points: shapes, and the pools of the cache type.
bool cache_args_ok(const AttentionArgs& a) {
  switch (a.kv_type) {
    case KvType::fp16: return a.k_cache && a.v_cache;
    case KvType::q8:
    case KvType::q4: return a.k_codes && a.v_codes && a.k_scales && a.v_scales && kv_quant_supports(a.head_dim);
  }
  return false;
}

// Shared memory of one attention_rows block (floats/halves carved from the dynamic buffer).
struct RowsSmem {
  static std::size_t bytes(int group, int hd, int max_context) {
    return static_cast<std::size_t>(group) * hd * 4 + 2u * kChunk * hd * 2 + static_cast<std::size_t>(group) * kChunk * 4 +
           (kThreads / 32) * static_cast<std::size_t>(hd) * 4 + 2u * (max_context / kChunk + 1) * 4;
  }
};

// The key chunk of block (split, row): keys [k0, k0 + nk) of the row's sequence, of n_chunks;
// keys [k0, k0 + j_step) were written by earlier steps (before the first position any row of the
// sequence writes in this step), so they may be read before waiting on the kernels before.
struct ChunkPlace {
  int split, kvh, row;  // the block: blockIdx x, y, z
  int n_chunks, k0, nk, j_step;
};

// Lets the next kernel launch, then fills the block's chunk place and s_page[j], the page of key
// k0 + j; false (for the whole block) when the row has fewer chunks than the block's split. Reads
// only the step's metadata, uploaded ahead of it.
__device__ bool place_chunk(const AttentionArgs& a, int* s_page, ChunkPlace& c) {
  __shared__ int s_first;  // first position of the row's sequence written in this step
  allow_next_launch();
  c.split = blockIdx.x;
  c.kvh = blockIdx.y;
  c.row = blockIdx.z;
  const int split = c.split, row = c.row;
  const int tid = threadIdx.x;
  const int pos = a.positions[row];
  const int start = a.window > 0 ? max(0, pos - a.window + 1) : 0;
  c.n_chunks = (pos + 1 - start + kChunk - 1) / kChunk;
  if (split >= c.n_chunks) return false;
  c.k0 = start + split * kChunk;
  c.nk = min(c.k0 + kChunk, pos + 1) - c.k0;
  const int seq = a.row_seq[row];
  const int* table = a.block_tables + static_cast<std::size_t>(seq) * a.max_pages;
  if (tid == 0) s_first = pos;
  if (tid < c.nk) s_page[tid] = table[(c.k0 + tid) / a.page_size];
  __syncthreads();
  for (int r = tid; r < a.rows; r += kThreads)
    if (a.row_seq[r] == seq) atomicMin(&s_first, a.positions[r]);
  __syncthreads();
  c.j_step = min(c.nk, max(0, s_first - c.k0));
  return true;
}

// Run by one warp: the chunk maxima w[0..n) become the weights exp(w - max) in place; returns
// 1 / sum(sums * weights), the head's softmax normaliser. Lane-strided, then a fixed shuffle tree.
__device__ __forceinline__ float chunk_weights(float* w, const float* sums, int n, int lane) {
  float m = -FLT_MAX;
  for (int c = lane; c < n; c += 32) m = fmaxf(m, w[c]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  float l = 0.0f;
  for (int c = lane; c < n; c += 32) {
    const float e = __expf(w[c] - m);
    w[c] = e;
    l += sums[c] * e;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
  return 1.0f / l;
}

// After every chunk block of (row, kv head) wrote its partials [max, sum, acc[hd]] to the
// workspace: the last block to arrive combines them in chunk order and writes the heads' outputs;
// it leaves the counter at zero for the next launch. s_w: 2 cap floats of shared memory the block
// no longer needs. One query head: a dimension per thread, each chunk folded in with a running
// maximum so that all its loads go out together (one memory round trip). A GQA group: all its heads
// at once (in batches that fit s_w): the maxima and sums of every (head, chunk) read in one pass, a
// warp per head turning them into chunk weights, then each thread summing up to four (head,
// dimension) outputs with all their chunk loads independent: two memory round trips for the group
// instead of two per head. (The running maximum for GQA groups too measured slower: 4 outputs a
// thread, each with two exponentials a chunk in a dependent chain.)
__device__ void combine_chunks(const AttentionArgs& a, int row, int kvh, int n_chunks, float* s_w, int cap) {
  __shared__ bool s_last;
  __shared__ float s_inv[kMaxGroup];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int group = a.heads / a.kv_heads, hd = a.head_dim;
  __threadfence();
  __syncthreads();
  unsigned* counter = a.counters + static_cast<std::size_t>(row) * a.kv_heads + kvh;
  if (tid == 0) s_last = atomicAdd(counter, 1u) + 1 == static_cast<unsigned>(n_chunks);
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  const int stride_chunks = a.max_context / kChunk + 1;
  const std::size_t ws_row = static_cast<std::size_t>(row) * a.heads + static_cast<std::size_t>(kvh) * group;
  if (group == 1) {  // a dimension per thread; every chunk's max, sum and partial loaded at once
    const float* base = a.workspace + ws_row * stride_chunks * (hd + 2);
    __half* o = a.out + static_cast<std::size_t>(row) * a.ldo + static_cast<std::size_t>(kvh) * hd;
    for (int dd = tid; dd < hd; dd += kThreads) {
      float m = -FLT_MAX, l = 0.0f, t = 0.0f;  // running maximum, scaled sum and scaled output
#pragma unroll 8
      for (int c = 0; c < n_chunks; ++c) {
        const float* pc = base + c * (hd + 2);
        const float x = __ldcg(pc), sum = __ldcg(pc + 1), part = __ldcg(pc + 2 + dd);
        const float mn = fmaxf(m, x);
        const float r = __expf(m - mn), e = __expf(x - mn);
        l = l * r + sum * e;
        t = t * r + part * e;
        m = mn;
      }
      o[dd] = __float2half_rn(t / l);
    }
    if (tid == 0) *counter = 0u;
    return;
  }
  const int batch = max(1, min(group, cap / n_chunks));  // heads per pass (the launch keeps cap >= n_chunks)
  float* s_sum = s_w + cap;
  for (int g0 = 0; g0 < group; g0 += batch) {
    const int nh = min(batch, group - g0);
    const float* ws = a.workspace + (ws_row + g0) * stride_chunks * (hd + 2);  // head g0, chunk 0
    __syncthreads();  // the previous pass is done with s_w
    for (int i = tid; i < nh * n_chunks; i += kThreads) {
      const float* pc = ws + (static_cast<std::size_t>(i / n_chunks) * stride_chunks + i % n_chunks) * (hd + 2);
      s_w[i] = __ldcg(pc);
      s_sum[i] = __ldcg(pc + 1);
    }
    __syncthreads();
    for (int g = warp; g < nh; g += kThreads / 32) {  // a warp per head
      const float inv = chunk_weights(s_w + g * n_chunks, s_sum + g * n_chunks, n_chunks, lane);
      if (lane == 0) s_inv[g] = inv;
    }
    __syncthreads();
    // A thread's (head, dimension) outputs from i0 on, n at a time (n = 4, 2 or 1 as they remain),
    // every chunk's loads for all n independent.
    auto sum_items = [&](auto n_tag, int i0) {
      constexpr int n = decltype(n_tag)::value;
      constexpr int kUnroll = 8 / n;
      const float* src[n];
      const float* wt[n];
      float t[n];
#pragma unroll
      for (int k = 0; k < n; ++k) {
        const int i = i0 + k * kThreads;
        src[k] = ws + static_cast<std::size_t>(i / hd) * stride_chunks * (hd + 2) + 2 + i % hd;
        wt[k] = s_w + (i / hd) * n_chunks;
        t[k] = 0.0f;
      }
#pragma unroll kUnroll
      for (int c = 0; c < n_chunks; ++c)
#pragma unroll
        for (int k = 0; k < n; ++k) t[k] += __ldcg(src[k] + static_cast<std::size_t>(c) * (hd + 2)) * wt[k][c];
#pragma unroll
      for (int k = 0; k < n; ++k) {
        const int i = i0 + k * kThreads;
        a.out[static_cast<std::size_t>(row) * a.ldo + (static_cast<std::size_t>(kvh) * group + g0 + i / hd) * hd + i % hd] =
            __float2half_rn(t[k] * s_inv[i / hd]);
      }
    };
    for (int i0 = tid; i0 < nh * hd;) {
      const int left = (nh * hd - i0 + kThreads - 1) / kThreads;
      if (left >= 4) {
        sum_items(std::integral_constant<int, 4>{}, i0);
        i0 += 4 * kThreads;
      } else if (left >= 2) {
        sum_items(std::integral_constant<int, 2>{}, i0);
        i0 += 2 * kThreads;
      } else {
        sum_items(std::integral_constant<int, 1>{}, i0);
        i0 += kThreads;
      }
    }
  }
  if (tid == 0) *counter = 0u;
}

template <KvType T>
__global__ void __launch_bounds__(kThreads) attention_rows_kernel(const AttentionArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ float s_max[kMaxGroup], s_sum[kMaxGroup];

  __shared__ int s_page[kChunk];
  ChunkPlace cp;
  if (!place_chunk(a, s_page, cp)) return;
  const int split = cp.split, kvh = cp.kvh, row = cp.row;
  const int group = a.heads / a.kv_heads;
  const int hd = a.head_dim;
  const int k0 = cp.k0, nk = cp.nk, n_chunks = cp.n_chunks;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  float* s_q = reinterpret_cast<float*>(smem);                     // [group][hd]
  __half* s_k = reinterpret_cast<__half*>(s_q + group * hd);       // [kChunk][hd]
  __half* s_v = s_k + kChunk * hd;                                  // [kChunk][hd]
  float* s_p = reinterpret_cast<float*>(s_v + kChunk * hd);        // [group][kChunk]
  float* s_acc = s_p + group * kChunk;                              // [4][hd]
  // Then room for the combine's two arrays of chunk weights and sums (it reuses all of smem).
  const float* smem_end = s_acc + (kThreads / 32) * hd + 2 * (a.max_context / kChunk + 1);

  // Stage the chunk's keys and values: every 16-byte load of the chunk in flight together
  // (q8/q4: 8 or 4 bytes of codes and the group's scale, dequantized to 8 fp16 values).
  const int vec = hd / 8;
  const int qgroup = kv_quant_group(hd);
  const KvPoolView kp = k_pool<T>(a), vp = v_pool<T>(a);
  auto stage = [&](int j0, int j1) {
#pragma unroll 8
    for (int i = j0 * vec + tid; i < j1 * vec; i += kThreads) {
      const int j = i / vec, c = i - j * vec;
      const int p = k0 + j;
      const std::size_t crow = (static_cast<std::size_t>(s_page[j]) * a.page_size + p % a.page_size) * a.kv_heads + kvh;
      const uint4 kk = kv_load8<T>(kp, crow, hd, qgroup, c);
      const uint4 vv = kv_load8<T>(vp, crow, hd, qgroup, c);
      *reinterpret_cast<uint4*>(s_k + j * hd + c * 8) = kk;
      *reinterpret_cast<uint4*>(s_v + j * hd + c * 8) = vv;
    }
  };
  const int j_step = cp.j_step;
  stage(0, j_step);
  grid_dependency_wait();  // q and this step's keys come from the kernels before
  const float* q = a.q + static_cast<std::size_t>(row) * a.ldq + static_cast<std::size_t>(kvh) * group * hd;
  for (int i = tid; i < group * hd; i += kThreads) s_q[i] = q[i] * a.scale;
  stage(j_step, nk);
  __syncthreads();

  // Scores: each warp takes keys j = warp, warp + 4, ...; lanes split the head dimension. Four keys
  // at a time, so their shuffle reductions interleave instead of running one after another.
  constexpr int kWarpsA = kThreads / 32;
  for (int j0 = warp; j0 < nk; j0 += 4 * kWarpsA) {
    for (int g = 0; g < group; ++g) {
      float sc[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int j = j0 + u * kWarpsA;
        float v = 0.0f;
        if (j < nk) {
          const __half* kr = s_k + j * hd;
          for (int d = lane * 2; d < hd; d += 64) {
            const float2 kv = __half22float2(*reinterpret_cast<const half2*>(kr + d));
            v += kv.x * s_q[g * hd + d] + kv.y * s_q[g * hd + d + 1];
          }
        }
        sc[u] = v;
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1)
#pragma unroll
        for (int u = 0; u < 4; ++u) sc[u] += __shfl_xor_sync(0xffffffffu, sc[u], o);
      if (lane == 0)
#pragma unroll
        for (int u = 0; u < 4; ++u)
          if (j0 + u * kWarpsA < nk) s_p[g * kChunk + j0 + u * kWarpsA] = sc[u];
    }
  }
  __syncthreads();

  // Per head: chunk max, weights and their sum (one warp per head).
  for (int g = warp; g < group; g += kThreads / 32) {
    float m = -FLT_MAX;
    for (int j = lane; j < nk; j += 32) m = fmaxf(m, s_p[g * kChunk + j]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float l = 0.0f;
    for (int j = lane; j < nk; j += 32) {
      const float e = __expf(s_p[g * kChunk + j] - m);
      s_p[g * kChunk + j] = e;
      l += e;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
    if (lane == 0) {
      s_max[g] = m;
      s_sum[g] = l;
    }
  }
  __syncthreads();

  // Weighted V: threads cover (key slice, dim pairs); reduce key slices through shared memory.
  const int pairs = hd / 2;
  const int slices = kThreads / pairs > 0 ? kThreads / pairs : 1;  // hd 128 -> 2 slices of 64 threads
  const int slice = tid / pairs;
  const int d = (tid % pairs) * 2;
  const bool active = tid < slices * pairs;
  const std::size_t ws_row = static_cast<std::size_t>(row) * a.heads + static_cast<std::size_t>(kvh) * group;
  for (int g = 0; g < group; ++g) {
    if (active) {
      float ax = 0.0f, ay = 0.0f;
      for (int j = slice; j < nk; j += slices) {
        const float2 vv = __half22float2(*reinterpret_cast<const half2*>(s_v + j * hd + d));
        const float pj = s_p[g * kChunk + j];
        ax += pj * vv.x;
        ay += pj * vv.y;
      }
      s_acc[slice * hd + d] = ax;
      s_acc[slice * hd + d + 1] = ay;
    }
    __syncthreads();
    if (tid < pairs) {
      float tx = 0.0f, ty = 0.0f;
      for (int sl = 0; sl < slices; ++sl) {
        tx += s_acc[sl * hd + d];
        ty += s_acc[sl * hd + d + 1];
      }
      if (n_chunks == 1) {
        const float inv = 1.0f / s_sum[g];
        __half* o = a.out + static_cast<std::size_t>(row) * a.ldo + (static_cast<std::size_t>(kvh) * group + g) * hd;
        *reinterpret_cast<half2*>(o + d) = __floats2half2_rn(tx * inv, ty * inv);
      } else {
        // Partial layout per (row, head, chunk): [max, sum, acc[hd]] at chunk stride (hd + 2).
        float* w = a.workspace + ((ws_row + g) * (a.max_context / kChunk + 1) + split) * (hd + 2);
        w[2 + d] = tx;
        w[3 + d] = ty;
        if (d == 0) {
          w[0] = s_max[g];
          w[1] = s_sum[g];
        }
      }
    }
    __syncthreads();
  }
  if (n_chunks > 1) {
    float* s_w = reinterpret_cast<float*>(smem);
    combine_chunks(a, row, kvh, n_chunks, s_w, static_cast<int>(smem_end - s_w) / 2);
  }
}


// Tensor-core variant of attention_rows_kernel for head dims 64, 128 and 256: the same blocks,
// staging and workspace partials, with S = q K^T and O = P V on mma.sync m16n8k16 (fp16 in,
// fp32 accumulate). Warp w takes keys [16w, 16w + 16) of the chunk for all (up to 16) query
// heads of the kv head at once: the heads are the rows of the A fragments (q, scaled, rounded to
// fp16, loaded straight into registers), the keys the columns. Scores, their block maximum
// (through shared memory), exp(s - max) and the row sums stay in registers; P becomes the A
// fragment of the P V product as FlashAttention-2 does it. The four warps' O fragments are summed
// in shared memory (over the staged tiles, no longer needed) in warp order, so a row's result
// does not depend on the launch. K/V rows are padded by 16 bytes so ldmatrix reads no bank twice.
template <KvType T, int HD>
__global__ void __launch_bounds__(kThreads) attention_rows_mma_kernel(const AttentionArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr int kWarps = kThreads / 32;
  constexpr int kStride = HD + 8;  // halves per staged row
  constexpr int kVec = HD / 8;     // 16-byte pieces per row
  __shared__ float s_wmax[kWarps][16], s_wsum[kWarps][16];

  __shared__ int s_page[kChunk];
  ChunkPlace cp;
  if (!place_chunk(a, s_page, cp)) return;
  const int split = cp.split, kvh = cp.kvh, row = cp.row;
  const int group = a.heads / a.kv_heads;
  const int k0 = cp.k0, nk = cp.nk;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  __half* s_k = reinterpret_cast<__half*>(smem);  // [kChunk][kStride]
  __half* s_v = s_k + kChunk * kStride;           // [kChunk][kStride]
  float* s_o = reinterpret_cast<float*>(smem);    // after the products: [warp][group][HD]
  // Then room for the combine's two arrays of chunk weights and sums (it reuses all of smem).
  const float* smem_end = reinterpret_cast<const float*>(s_v + kChunk * kStride) + 2 * (a.max_context / kChunk + 1);

  // Rows past the chunk's end up to the last warp's 16: zero, so their P (0) times V stays 0.
  const int nk16 = (nk + 15) & ~15;
  for (int i = nk * kVec + tid; i < nk16 * kVec; i += kThreads) {
    const int j = i / kVec, c = i % kVec;
    *reinterpret_cast<uint4*>(s_k + j * kStride + c * 8) = make_uint4(0, 0, 0, 0);
    *reinterpret_cast<uint4*>(s_v + j * kStride + c * 8) = make_uint4(0, 0, 0, 0);
  }
  const int qgroup = kv_quant_group(HD);
  const KvPoolView kp = k_pool<T>(a), vp = v_pool<T>(a);
  auto cache_row_of = [&](int j) {
    return (static_cast<std::size_t>(s_page[j]) * a.page_size + (k0 + j) % a.page_size) * a.kv_heads + kvh;
  };
  // fp16: cp.async copies. q8/q4: up to 8 pieces' codes and scales fetched into registers, then
  // decoded to fp16 and stored, so a thread's loads are in flight together.
  constexpr int kBatch = 8;
  auto stage = [&](int j0, int j1) {
    if constexpr (T == KvType::fp16) {
#pragma unroll 8
      for (int i = j0 * kVec + tid; i < j1 * kVec; i += kThreads) {
        const int j = i / kVec, c = i % kVec;
        const std::size_t crow = cache_row_of(j);
        cp_async16(s_k + j * kStride + c * 8, a.k_cache + crow * HD + c * 8);
        cp_async16(s_v + j * kStride + c * 8, a.v_cache + crow * HD + c * 8);
      }
    } else {
      for (int i0 = j0 * kVec + tid; i0 < j1 * kVec; i0 += kBatch * kThreads) {
        KvRaw8 rk[kBatch], rv[kBatch];
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          const int i = i0 + u * kThreads;
          if (i < j1 * kVec) {
            const int j = i / kVec, c = i % kVec;
            const std::size_t crow = cache_row_of(j);
            rk[u] = kv_fetch8<T>(kp, crow, HD, qgroup, c);
            rv[u] = kv_fetch8<T>(vp, crow, HD, qgroup, c);
          }
        }
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          const int i = i0 + u * kThreads;
          if (i < j1 * kVec) {
            const int j = i / kVec, c = i % kVec;
            *reinterpret_cast<uint4*>(s_k + j * kStride + c * 8) = kv_decode8<T>(rk[u]);
            *reinterpret_cast<uint4*>(s_v + j * kStride + c * 8) = kv_decode8<T>(rv[u]);
          }
        }
      }
    }
  };
  stage(0, cp.j_step);
  grid_dependency_wait();  // q and this step's keys come from the kernels before
  stage(cp.j_step, nk);
  if constexpr (T == KvType::fp16) cp_async_commit();

  // q fragments: head r0 = lane / 4 and r0 + 8 of the group, dims ks * 16 + t * 2 (+1, +8, +9).
  const int r0 = lane >> 2, t = lane & 3;
  const float* q = a.q + static_cast<std::size_t>(row) * a.ldq + static_cast<std::size_t>(kvh) * group * HD;
  std::uint32_t qf[HD / 16][4];
#pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks) {
    const int d = ks * 16 + t * 2;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = r0 + h * 8;
      float2 lo = make_float2(0.0f, 0.0f), hi = lo;
      if (r < group) {
        lo = *reinterpret_cast<const float2*>(q + r * HD + d);
        hi = *reinterpret_cast<const float2*>(q + r * HD + d + 8);
      }
      qf[ks][h] = pack_half2(lo.x * a.scale, lo.y * a.scale);
      qf[ks][2 + h] = pack_half2(hi.x * a.scale, hi.y * a.scale);
    }
  }
  if constexpr (T == KvType::fp16) cp_async_wait_all();
  __syncthreads();

  // Scores of the warp's 16 keys: s[n][0..1] head r0, s[n][2..3] head r0 + 8; keys kb + 8n + 2t (+1).
  const int kb = warp * 16;
  const bool active = kb < nk;
  float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
  float mx[2] = {-INFINITY, -INFINITY};
  if (active) {
#pragma unroll
    for (int ks = 0; ks < HD / 16; ++ks) {
      std::uint32_t b[4];
      ldmatrix_x4(b, s_k + (kb + (lane >> 4) * 8 + (lane & 7)) * kStride + ks * 16 + ((lane >> 3) & 1) * 8);
      mma16816(s[0], qf[ks], b[0], b[1]);
      mma16816(s[1], qf[ks], b[2], b[3]);
    }
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        if (kb + n * 8 + t * 2 + (i & 1) >= nk) s[n][i] = -INFINITY;
        mx[i >> 1] = fmaxf(mx[i >> 1], s[n][i]);
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
    }
  }
  if (t == 0) {
    s_wmax[warp][r0] = mx[0];
    s_wmax[warp][r0 + 8] = mx[1];
  }
  __syncthreads();
  float m[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    m[h] = s_wmax[0][r0 + h * 8];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) m[h] = fmaxf(m[h], s_wmax[w][r0 + h * 8]);
  }

  float o[HD / 8][4];
#pragma unroll
  for (int j = 0; j < HD / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float l[2] = {0.0f, 0.0f};
  if (active) {
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        s[n][i] = __expf(s[n][i] - m[i >> 1]);
        l[i >> 1] += s[n][i];
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
      l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    }
    const std::uint32_t pa[4] = {pack_half2(s[0][0], s[0][1]), pack_half2(s[0][2], s[0][3]),
                                 pack_half2(s[1][0], s[1][1]), pack_half2(s[1][2], s[1][3])};
#pragma unroll
    for (int dt = 0; dt < HD / 16; ++dt) {
      std::uint32_t b[4];
      ldmatrix_x4_trans(b, s_v + (kb + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + dt * 16 + (lane >> 4) * 8);
      mma16816(o[2 * dt], pa, b[0], b[1]);
      mma16816(o[2 * dt + 1], pa, b[2], b[3]);
    }
  }
  if (t == 0) {
    s_wsum[warp][r0] = l[0];
    s_wsum[warp][r0 + 8] = l[1];
  }
  __syncthreads();  // every warp is done with the staged K/V: s_o reuses them
  if (active) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = r0 + h * 8;
      if (r < group) {
        float* dst = s_o + (warp * group + r) * HD + t * 2;
#pragma unroll
        for (int j = 0; j < HD / 8; ++j)
          *reinterpret_cast<float2*>(dst + j * 8) = make_float2(o[j][2 * h], o[j][2 * h + 1]);
      }
    }
  }
  __syncthreads();

  const int n_act = (nk + 15) / 16;
  const std::size_t ws_row = static_cast<std::size_t>(row) * a.heads + static_cast<std::size_t>(kvh) * group;
  for (int i = tid; i < group * HD; i += kThreads) {
    const int g = i / HD, d = i % HD;
    float acc = 0.0f, sum = 0.0f;
    for (int w = 0; w < n_act; ++w) {
      acc += s_o[(w * group + g) * HD + d];
      sum += s_wsum[w][g];
    }
    if (cp.n_chunks == 1) {
      a.out[static_cast<std::size_t>(row) * a.ldo + (static_cast<std::size_t>(kvh) * group + g) * HD + d] =
          __float2half_rn(acc / sum);
    } else {
      float* w = a.workspace + ((ws_row + g) * (a.max_context / kChunk + 1) + split) * (HD + 2);
      w[2 + d] = acc;
      if (d == 0) {
        float mg = s_wmax[0][g];
        for (int ww = 1; ww < kWarps; ++ww) mg = fmaxf(mg, s_wmax[ww][g]);
        w[0] = mg;
        w[1] = sum;
      }
    }
  }
  if (cp.n_chunks > 1) {
    float* s_w = reinterpret_cast<float*>(smem);
    combine_chunks(a, row, kvh, cp.n_chunks, s_w, static_cast<int>(smem_end - s_w) / 2);
  }
}

// Shared memory of one attention_rows_mma block: the padded K/V tiles, then room for the combine's arrays.
std::size_t mma_smem_bytes(int hd, int max_context) {
  return 2u * kChunk * (hd + 8) * sizeof(__half) + 2u * (max_context / kChunk + 1) * 4;
}

bool mma_head_dim(int hd) { return hd == 64 || hd == 128 || hd == 256; }
}  // namespace

std::size_t attention_workspace_floats(int rows, int heads, int head_dim, int max_context) {
  return static_cast<std::size_t>(rows) * heads * (max_context / kChunk + 1) * (head_dim + 2);
}

std::size_t attention_counter_count(int rows, int kv_heads) { return static_cast<std::size_t>(rows) * kv_heads; }

int attention_rows(const AttentionArgs& a, cudaStream_t stream) {
  if (!cache_args_ok(a)) return cudaErrorInvalidValue;
  if (!a.q || !a.out || !a.positions || !a.row_seq || !a.block_tables ||
      !a.workspace || !a.counters || a.rows < 0 || a.heads <= 0 || a.kv_heads <= 0 || a.heads % a.kv_heads != 0 ||
      a.heads / a.kv_heads > kMaxGroup || a.head_dim <= 0 || a.head_dim % 16 != 0 || a.head_dim > kMaxHeadDim ||
      a.page_size <= 0 || a.max_pages <= 0 || a.max_context <= 0)
    return cudaErrorInvalidValue;
  if (a.rows == 0) return 0;
  const int splits = (a.max_context + kChunk - 1) / kChunk;
  // Head dims 64/128/256 take the tensor-core kernel; NIBBLE_ATTN_SCALAR=1 forces the scalar one
  // (A/B timing).
  const char* scalar_env = std::getenv("NIBBLE_ATTN_SCALAR");
  const bool mma = mma_head_dim(a.head_dim) && !(scalar_env && scalar_env[0] == '1');
  const std::size_t smem = mma ? mma_smem_bytes(a.head_dim, a.max_context)
                               : RowsSmem::bytes(a.heads / a.kv_heads, a.head_dim, a.max_context);
  auto launch = [&](auto kernel) -> int {
    if (smem > 48 * 1024) {
      const cudaError_t e =
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      if (e != cudaSuccess) return static_cast<int>(e);
    }
    return launch_pdl(kernel, dim3(splits, a.kv_heads, a.rows), dim3(kThreads), smem, stream, a);
  };
  auto launch_hd = [&](auto fp16, auto q8, auto q4) -> int {
    switch (a.kv_type) {
      case KvType::q8: return launch(q8);
      case KvType::q4: return launch(q4);
      default: return launch(fp16);
    }
  };
  if (mma && a.head_dim == 64)
    return launch_hd(attention_rows_mma_kernel<KvType::fp16, 64>, attention_rows_mma_kernel<KvType::q8, 64>,
                     attention_rows_mma_kernel<KvType::q4, 64>);
  if (mma && a.head_dim == 128)
    return launch_hd(attention_rows_mma_kernel<KvType::fp16, 128>, attention_rows_mma_kernel<KvType::q8, 128>,
                     attention_rows_mma_kernel<KvType::q4, 128>);
  if (mma)
    return launch_hd(attention_rows_mma_kernel<KvType::fp16, 256>, attention_rows_mma_kernel<KvType::q8, 256>,
                     attention_rows_mma_kernel<KvType::q4, 256>);
  return launch_hd(attention_rows_kernel<KvType::fp16>, attention_rows_kernel<KvType::q8>,
                   attention_rows_kernel<KvType::q4>);
}

}  // namespace nibble::kernels

namespace nibble::kernels {
namespace {

template <KvType T>
__global__ void __launch_bounds__(kThreads) attention_serial_kernel(const AttentionArgs a) {
  __shared__ float s_q[kMaxGroup * kMaxHeadDim];
  __shared__ float s_p[kMaxGroup][kChunk];
  __shared__ float s_acc[kThreads / 32][kMaxHeadDim];
  __shared__ float s_m[kMaxGroup], s_l[kMaxGroup], s_corr[kMaxGroup];

  const int kvh = blockIdx.x, row = blockIdx.y;
  const int group = a.heads / a.kv_heads;
  const int hd = a.head_dim;
  const int pos = a.positions[row];
  const int start = a.window > 0 ? max(0, pos - a.window + 1) : 0;
  const int* table = a.block_tables + static_cast<std::size_t>(a.row_seq[row]) * a.max_pages;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const float* q = a.q + static_cast<std::size_t>(row) * a.ldq + static_cast<std::size_t>(kvh) * group * hd;
  for (int i = tid; i < group * hd; i += kThreads) s_q[i] = q[i] * a.scale;
  if (tid < group) {
    s_m[tid] = -FLT_MAX;
    s_l[tid] = 0.0f;
  }
  const int pairs = hd / 2;
  const int slices = kThreads / pairs > 0 ? kThreads / pairs : 1;
  const int slice = tid / pairs;
  const int d = (tid % pairs) * 2;
  const bool active = tid < slices * pairs;
  const int qgroup = kv_quant_group(hd);
  const KvPoolView kp = k_pool<T>(a), vp = v_pool<T>(a);
  // Running output per head lives in registers of the threads with tid < pairs.
  float ox[kMaxGroup], oy[kMaxGroup];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) ox[g] = oy[g] = 0.0f;
  __syncthreads();

  for (int k0 = start; k0 <= pos; k0 += kChunk) {
    const int nk = min(kChunk, pos + 1 - k0);
    for (int j = warp; j < nk; j += kThreads / 32) {
      const std::size_t krow = cache_row(a, table, k0 + j, kvh);
      for (int g = 0; g < group; ++g) {
        float s = 0.0f;
        for (int dd = lane * 2; dd < hd; dd += 64) {
          const float2 kv = kv_load2<T>(kp, krow, hd, qgroup, dd);
          s += kv.x * s_q[g * hd + dd] + kv.y * s_q[g * hd + dd + 1];
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) s_p[g][j] = s;
      }
    }
    __syncthreads();
    for (int g = warp; g < group; g += kThreads / 32) {
      float m = -FLT_MAX;
      for (int j = lane; j < nk; j += 32) m = fmaxf(m, s_p[g][j]);
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
      const float m_new = fmaxf(s_m[g], m);
      float l = 0.0f;
      for (int j = lane; j < nk; j += 32) {
        const float e = __expf(s_p[g][j] - m_new);
        s_p[g][j] = e;
        l += e;
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
      if (lane == 0) {
        const float corr = __expf(s_m[g] - m_new);
        s_corr[g] = corr;
        s_l[g] = s_l[g] * corr + l;
        s_m[g] = m_new;
      }
    }
    __syncthreads();
    for (int g = 0; g < group; ++g) {
      float ax = 0.0f, ay = 0.0f;
      if (active) {
        for (int j = slice; j < nk; j += slices) {
          const float2 vv = kv_load2<T>(vp, cache_row(a, table, k0 + j, kvh), hd, qgroup, d);
          ax += s_p[g][j] * vv.x;
          ay += s_p[g][j] * vv.y;
        }
        s_acc[slice][d] = ax;
        s_acc[slice][d + 1] = ay;
      }
      __syncthreads();
      if (tid < pairs) {
        float tx = 0.0f, ty = 0.0f;
        for (int sl = 0; sl < slices; ++sl) {
          tx += s_acc[sl][d];
          ty += s_acc[sl][d + 1];
        }
#pragma unroll
        for (int gg = 0; gg < kMaxGroup; ++gg)
          if (gg == g) {
            ox[gg] = ox[gg] * s_corr[g] + tx;
            oy[gg] = oy[gg] * s_corr[g] + ty;
          }
      }
      __syncthreads();
    }
  }
  if (tid < pairs) {
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) {
      if (g >= group) break;
      const float inv = 1.0f / s_l[g];
      __half* o = a.out + static_cast<std::size_t>(row) * a.ldo + (static_cast<std::size_t>(kvh) * group + g) * hd;
      o[d] = __float2half_rn(ox[g] * inv);
      o[d + 1] = __float2half_rn(oy[g] * inv);
    }
  }
}

}  // namespace

int attention_rows_serial(const AttentionArgs& a, cudaStream_t stream) {
  if (!cache_args_ok(a)) return cudaErrorInvalidValue;
  if (!a.q || !a.out || !a.positions || !a.row_seq || !a.block_tables || a.rows < 0 ||
      a.heads <= 0 || a.kv_heads <= 0 || a.heads % a.kv_heads != 0 || a.heads / a.kv_heads > kMaxGroup ||
      a.head_dim <= 0 || a.head_dim % 16 != 0 || a.head_dim > kMaxHeadDim || a.page_size <= 0 || a.max_pages <= 0)
    return cudaErrorInvalidValue;
  if (a.rows == 0) return 0;
  const dim3 grid(a.kv_heads, a.rows);
  switch (a.kv_type) {
    case KvType::q8: attention_serial_kernel<KvType::q8><<<grid, kThreads, 0, stream>>>(a); break;
    case KvType::q4: attention_serial_kernel<KvType::q4><<<grid, kThreads, 0, stream>>>(a); break;
    default: attention_serial_kernel<KvType::fp16><<<grid, kThreads, 0, stream>>>(a); break;
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace nibble::kernels
