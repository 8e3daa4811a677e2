// RoPE (HF rotate_half convention: pairs (i, i + rotary_dim/2)) on q and k, then K/V rows written
// into their paged cache slots as fp16, or as q8/q4 codes with per-group fp16 scales. Block = (row,
// 8 heads): the row's cos/sin are computed once per block in fp32 exactly as transformers computes
// them (angle = position * inv_freq, accurate sincosf), then each thread rotates pairs; blocks of
// key heads also store K and V (quantized caches: staged in shared memory, then one warp per group).
#include "nibble_kernels/ops.h"

#include "kv_quant.cuh"
#include "launch.cuh"

namespace nibble::kernels {
namespace {

constexpr int kHeadsPerBlock = 8;
constexpr int kThreads = 256;

template <KvType T>
__global__ void __launch_bounds__(kThreads) rope_kv_kernel(const RopeKvArgs a) {
  __shared__ float s_cos[128], s_sin[128];
  // Quantized caches: this block's rotated K (0) and V (1) rows before quantization.
  __shared__ float s_x[T == KvType::fp16 ? 1 : 2 * kHeadsPerBlock * 256];
  allow_next_launch();
  grid_dependency_wait();
  const int r = blockIdx.x;
  const int pos = a.positions[r];
  const int half_dim = a.rotary_dim / 2;
  for (int i = threadIdx.x; i < half_dim; i += kThreads) {
    float s, c;
    sincosf(static_cast<float>(pos) * a.inv_freq[i], &s, &c);
    s_cos[i] = c * a.attn_factor;
    s_sin[i] = s * a.attn_factor;
  }
  __syncthreads();
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
    if constexpr (T == KvType::fp16) {
      a.k_cache[slot + static_cast<std::size_t>(kh) * hd + i] = __float2half_rn(out);
      a.v_cache[slot + static_cast<std::size_t>(kh) * hd + i] = __float2half_rn(vv[i]);
    } else {
      s_x[t] = out;  // t = (h - head0) * hd + i
      s_x[kHeadsPerBlock * hd + t] = vv[i];
    }
  }
  if constexpr (T != KvType::fp16) {
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
}

}  // namespace

int rope_kv_append(const RopeKvArgs& a, cudaStream_t stream) {
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
  const int chunks = (a.heads + a.kv_heads + kHeadsPerBlock - 1) / kHeadsPerBlock;
  const dim3 grid(a.rows, chunks);
  switch (a.kv_type) {
    case KvType::q8: return launch_pdl(rope_kv_kernel<KvType::q8>, grid, dim3(kThreads), 0, stream, a);
    case KvType::q4: return launch_pdl(rope_kv_kernel<KvType::q4>, grid, dim3(kThreads), 0, stream, a);
    default: return launch_pdl(rope_kv_kernel<KvType::fp16>, grid, dim3(kThreads), 0, stream, a);
  }
}

}  // namespace nibble::kernels
