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

// Rows whose width and strides are multiples of 4: each thread keeps up to kVec float4 of its row in
// registers (one read of x), 8-byte loads of the weights and stores of the output.
constexpr int kNormThreads = 256;
constexpr int kVec = 8;  // rows up to 8,192 columns

__global__ void __launch_bounds__(kNormThreads) rms_norm4_kernel(const float* x, int ldx, const __half* w, float eps, int n,
                                                                 __half* out, int ldo) {
  __shared__ float red[32];
  const float4* xr = reinterpret_cast<const float4*>(x + static_cast<std::size_t>(blockIdx.x) * ldx);
  const int n4 = n / 4;
  float4 v[kVec];
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    const int i = threadIdx.x + k * kNormThreads;
    if (i < n4) {
      v[k] = xr[i];
      ss += v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
    }
  }
  const float scale = rsqrtf(block_sum(ss, red) / static_cast<float>(n) + eps);
  const uint2* w4 = reinterpret_cast<const uint2*>(w);
  uint2* o = reinterpret_cast<uint2*>(out + static_cast<std::size_t>(blockIdx.x) * ldo);
#pragma unroll
  for (int k = 0; k < kVec; ++k) {
    const int i = threadIdx.x + k * kNormThreads;
    if (i < n4) {
      const uint2 wb = w4[i];
      const float2 w01 = __half22float2(*reinterpret_cast<const half2*>(&wb.x));
      const float2 w23 = __half22float2(*reinterpret_cast<const half2*>(&wb.y));
      const half2 lo = __floats2half2_rn(v[k].x * scale * w01.x, v[k].y * scale * w01.y);
      const half2 hi = __floats2half2_rn(v[k].z * scale * w23.x, v[k].w * scale * w23.y);
      o[i] = make_uint2(*reinterpret_cast<const unsigned*>(&lo), *reinterpret_cast<const unsigned*>(&hi));
    }
  }
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
  const auto addr = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p); };
  if (n % 4 == 0 && n <= 4 * kVec * kNormThreads && ldx % 4 == 0 && ldo % 4 == 0 && addr(x) % 16 == 0 &&
      addr(w) % 8 == 0 && addr(out) % 8 == 0) {
    rms_norm4_kernel<<<rows, kNormThreads, 0, stream>>>(x, ldx, w, eps, n, out, ldo);
    return static_cast<int>(cudaGetLastError());
  }
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
