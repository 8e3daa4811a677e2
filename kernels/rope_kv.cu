// RoPE (HF rotate_half convention: pairs (i, i + rotary_dim/2)) on q and k, then K/V rows written
// into their paged cache slots as fp16. One block per row; cos/sin computed in fp32 from the
// inverse-frequency table exactly as transformers computes them (angle = position * inv_freq).
#include "nibble_kernels/ops.h"

namespace nibble::kernels {
namespace {

__device__ __forceinline__ void rotate(float* v, int i, int half_dim, float c, float s) {
  const float a = v[i], b = v[i + half_dim];
  v[i] = a * c - b * s;
  v[i + half_dim] = b * c + a * s;
}

__global__ void rope_kv_kernel(const RopeKvArgs a) {
  const int r = blockIdx.x;
  const int pos = a.positions[r];
  const int half_dim = a.rotary_dim / 2;
  extern __shared__ float s_k[];  // [kv_heads * head_dim] rotated k of this row
  float* q = a.q + static_cast<std::size_t>(r) * a.ldq;
  const float* k = a.k + static_cast<std::size_t>(r) * a.ldk;
  const float* v = a.v + static_cast<std::size_t>(r) * a.ldv;
  const int kv_width = a.kv_heads * a.head_dim;
  for (int i = threadIdx.x; i < kv_width; i += blockDim.x) s_k[i] = k[i];
  __syncthreads();
  // q: heads * half_dim rotations; k: kv_heads * half_dim.
  const int q_pairs = a.heads * half_dim;
  const int k_pairs = a.kv_heads * half_dim;
  for (int t = threadIdx.x; t < q_pairs + k_pairs; t += blockDim.x) {
    const bool is_q = t < q_pairs;
    const int u = is_q ? t : t - q_pairs;
    const int h = u / half_dim, i = u % half_dim;
    float s, c;
    sincosf(static_cast<float>(pos) * a.inv_freq[i], &s, &c);
    c *= a.attn_factor;
    s *= a.attn_factor;
    rotate(is_q ? q + h * a.head_dim : s_k + h * a.head_dim, i, half_dim, c, s);
  }
  __syncthreads();
  const int seq = a.row_seq[r];
  const int page = a.block_tables[static_cast<std::size_t>(seq) * a.max_pages + pos / a.page_size];
  const std::size_t slot = (static_cast<std::size_t>(page) * a.page_size + pos % a.page_size) * kv_width;
  for (int i = threadIdx.x; i < kv_width; i += blockDim.x) {
    a.k_cache[slot + i] = __float2half_rn(s_k[i]);
    a.v_cache[slot + i] = __float2half_rn(v[i]);
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
  const std::size_t smem = static_cast<std::size_t>(a.kv_heads) * a.head_dim * sizeof(float);
  if (smem > 48 * 1024) return cudaErrorInvalidValue;
  rope_kv_kernel<<<a.rows, 256, smem, stream>>>(a);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace nibble::kernels
