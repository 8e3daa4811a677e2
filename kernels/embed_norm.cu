// Embedding gather, RMSNorm to fp16 (the prefill path's GEMM input) and per-head q/k RMSNorm.
#include <cuda_bf16.h>

#include <cstdint>

#include "nibble_kernels/ops.h"

namespace nibble::kernels {
namespace {

__global__ void embed_kernel(const void* table, WeightType type, int vocab, int hidden, const int* ids, float* out) {
  const int r = blockIdx.x;
  const int id = ids[r];
  float* o = out + static_cast<std::size_t>(r) * hidden;
  const bool valid = id >= 0 && id < vocab;
  const std::uint16_t* row = static_cast<const std::uint16_t*>(table) + static_cast<std::size_t>(valid ? id : 0) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = 0.0f;
    if (valid) {
      const std::uint16_t bits = row[i];
      v = type == WeightType::fp16 ? __half2float(__ushort_as_half(bits)) : __uint_as_float(static_cast<std::uint32_t>(bits) << 16);
    }
    o[i] = v;
  }
}

__device__ __forceinline__ float block_sum(float v, float* red) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float t = 0.0f;
  const int warps = (blockDim.x + 31) / 32;
  for (int w = 0; w < warps; ++w) t += red[w];
  __syncthreads();
  return t;
}

__global__ void rms_norm_kernel(const float* x, int ldx, const __half* w, float eps, int n, __half* out, int ldo) {
  __shared__ float red[32];
  const float* xr = x + static_cast<std::size_t>(blockIdx.x) * ldx;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
  const float scale = rsqrtf(block_sum(ss, red) / static_cast<float>(n) + eps);
  __half* o = out + static_cast<std::size_t>(blockIdx.x) * ldo;
  for (int i = threadIdx.x; i < n; i += blockDim.x) o[i] = __float2half_rn(xr[i] * scale * __half2float(w[i]));
}

// One warp per (row, head).
__global__ void head_norm_kernel(float* x, int ldx, int heads, int head_dim, const __half* w, float eps, int rows) {
  const int warp_global = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp_global >= rows * heads) return;
  const int r = warp_global / heads, h = warp_global % heads;
  float* v = x + static_cast<std::size_t>(r) * ldx + static_cast<std::size_t>(h) * head_dim;
  float ss = 0.0f;
  for (int i = lane; i < head_dim; i += 32) ss += v[i] * v[i];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  const float scale = rsqrtf(ss / static_cast<float>(head_dim) + eps);
  for (int i = lane; i < head_dim; i += 32) v[i] = v[i] * scale * __half2float(w[i]);
}

}  // namespace

int embed_rows(const void* table, WeightType type, int vocab, int hidden, const int* ids, int rows, float* out,
               cudaStream_t stream) {
  if (!table || !ids || !out || rows < 0 || hidden <= 0 || vocab <= 0) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  embed_kernel<<<rows, 256, 0, stream>>>(table, type, vocab, hidden, ids, out);
  return static_cast<int>(cudaGetLastError());
}

int rms_norm_f16(const float* x, int ldx, const __half* w, float eps, int rows, int n, __half* out, int ldo,
                 cudaStream_t stream) {
  if (!x || !w || !out || rows < 0 || n <= 0 || ldx < n || ldo < n) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  rms_norm_kernel<<<rows, 256, 0, stream>>>(x, ldx, w, eps, n, out, ldo);
  return static_cast<int>(cudaGetLastError());
}

int head_rms_norm(float* x, int ldx, int heads, int head_dim, const __half* w, float eps, int rows,
                  cudaStream_t stream) {
  if (!x || !w || heads <= 0 || head_dim <= 0 || rows < 0) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  const int warps = rows * heads;
  head_norm_kernel<<<(warps + 7) / 8, 256, 0, stream>>>(x, ldx, heads, head_dim, w, eps, rows);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace nibble::kernels
