// RoPE (HF rotate_half convention: pairs (i, i + rotary_dim/2)) on q and k, then K/V rows written
// into their paged cache slots as fp16. Block = (row, 8 heads): the row's cos/sin are computed once
// per block in fp32 exactly as transformers computes them (angle = position * inv_freq, accurate
// sincosf), then each thread rotates pairs; blocks of key heads also store K and V.
#include "nibble_kernels/ops.h"

#include "launch.cuh"

namespace nibble::kernels {
namespace {

constexpr int kHeadsPerBlock = 8;
constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) rope_kv_kernel(const RopeKvArgs a) {
  __shared__ float s_cos[128], s_sin[128];
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
    a.k_cache[slot + static_cast<std::size_t>(kh) * hd + i] = __float2half_rn(out);
    a.v_cache[slot + static_cast<std::size_t>(kh) * hd + i] = __float2half_rn(vv[i]);
  }
}

}  // namespace

int rope_kv_append(const RopeKvArgs& a, cudaStream_t stream) {
  if (!a.q || !a.k || !a.v || !a.inv_freq || !a.positions || !a.row_seq || !a.block_tables || !a.k_cache ||
      !a.v_cache || a.rows < 0 || a.heads <= 0 || a.kv_heads <= 0 || a.head_dim <= 0 || a.head_dim > 256 ||
      a.rotary_dim <= 0 || a.rotary_dim > a.head_dim || a.rotary_dim % 2 != 0 || a.page_size <= 0 ||
      a.max_pages <= 0)
    return cudaErrorInvalidValue;
  if (a.rows == 0) return 0;
  const int chunks = (a.heads + a.kv_heads + kHeadsPerBlock - 1) / kHeadsPerBlock;
  return launch_pdl(rope_kv_kernel, dim3(a.rows, chunks), dim3(kThreads), 0, stream, a);
}

}  // namespace nibble::kernels
