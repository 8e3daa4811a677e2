// Element-wise helpers: SiLU-gated product to fp16, row gather, fp32 -> fp16 conversion, and the
// chunk interleave after a tensor-parallel all-gather.
#include "nibble_kernels/ops.h"

#include <cstdint>

namespace nibble::kernels {
namespace {

__device__ __forceinline__ float silu_mul1(float g, float u) { return g / (1.0f + __expf(-g)) * u; }

__global__ void silu_mul_kernel(const __half* a, int lda, const __half* b, int ldb, const __half* bias_a,
                                const __half* bias_b, int n, __half* out, int ldo) {
  const int r = blockIdx.y;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float g = __half2float(a[static_cast<std::size_t>(r) * lda + i]) + (bias_a ? __half2float(bias_a[i]) : 0.0f);
    const float u = __half2float(b[static_cast<std::size_t>(r) * ldb + i]) + (bias_b ? __half2float(bias_b[i]) : 0.0f);
    out[static_cast<std::size_t>(r) * ldo + i] = __float2half_rn(silu_mul1(g, u));
  }
}

// Eight columns per thread: 16-byte loads and stores (every row start aligned).
__global__ void silu_mul8_kernel(const __half* a, int lda, const __half* b, int ldb, const __half* bias_a,
                                 const __half* bias_b, int n8, __half* out, int ldo) {
  const int r = blockIdx.y;
  const uint4* ar = reinterpret_cast<const uint4*>(a + static_cast<std::size_t>(r) * lda);
  const uint4* br = reinterpret_cast<const uint4*>(b + static_cast<std::size_t>(r) * ldb);
  uint4* o = reinterpret_cast<uint4*>(out + static_cast<std::size_t>(r) * ldo);
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n8; i += gridDim.x * blockDim.x) {
    const uint4 gv = __ldcs(ar + i), uv = __ldcs(br + i);
    const uint4 bgv = bias_a ? reinterpret_cast<const uint4*>(bias_a)[i] : make_uint4(0u, 0u, 0u, 0u);
    const uint4 buv = bias_b ? reinterpret_cast<const uint4*>(bias_b)[i] : make_uint4(0u, 0u, 0u, 0u);
    const half2* g2 = reinterpret_cast<const half2*>(&gv);
    const half2* u2 = reinterpret_cast<const half2*>(&uv);
    const half2* bg2 = reinterpret_cast<const half2*>(&bgv);
    const half2* bu2 = reinterpret_cast<const half2*>(&buv);
    uint4 res;
    std::uint32_t* rw = reinterpret_cast<std::uint32_t*>(&res);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 g = __half22float2(g2[j]), u = __half22float2(u2[j]);
      const float2 bg = __half22float2(bg2[j]), bu = __half22float2(bu2[j]);
      const half2 h = __floats2half2_rn(silu_mul1(g.x + bg.x, u.x + bu.x), silu_mul1(g.y + bg.y, u.y + bu.y));
      rw[j] = *reinterpret_cast<const std::uint32_t*>(&h);
    }
    o[i] = res;
  }
}

bool aligned(const void* p, std::size_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

__global__ void gather_kernel(const float* src, int lds, const int* index, int n, float* dst, int ldd) {
  const int r = blockIdx.x;
  const float* s = src + static_cast<std::size_t>(index[r]) * lds;
  float* d = dst + static_cast<std::size_t>(r) * ldd;
  for (int i = threadIdx.x; i < n; i += blockDim.x) d[i] = s[i];
}

__global__ void interleave_kernel(const __half* src, int chunks, int rows, int width, __half* dst, int ldd) {
  const int r = blockIdx.y;
  const int total = chunks * width;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int c = i / width, j = i - c * width;
    dst[static_cast<std::size_t>(r) * ldd + i] = src[(static_cast<std::size_t>(c) * rows + r) * width + j];
  }
}

__global__ void add_bias_kernel(float* out, int ldo, int n, const __half* bias) {
  float* o = out + static_cast<std::size_t>(blockIdx.y) * ldo;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) o[i] += __half2float(bias[i]);
}

__global__ void f32_to_f16_kernel(const float* src, __half* dst, long n) {
  for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n; i += static_cast<long>(gridDim.x) * blockDim.x)
    dst[i] = __float2half_rn(src[i]);
}

}  // namespace

int silu_mul_f16(const __half* a, int lda, const __half* b, int ldb, const __half* bias_a, const __half* bias_b,
                 int rows, int n, __half* out, int ldo, cudaStream_t stream) {
  if (!a || !b || !out || rows < 0 || n <= 0) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  const bool biases_aligned = (!bias_a || aligned(bias_a, 16)) && (!bias_b || aligned(bias_b, 16));
  if (n % 8 == 0 && lda % 8 == 0 && ldb % 8 == 0 && ldo % 8 == 0 && aligned(a, 16) && aligned(b, 16) && aligned(out, 16) &&
      biases_aligned) {
    const int n8 = n / 8;
    const int bx = (n8 + 255) / 256 < 64 ? (n8 + 255) / 256 : 64;
    silu_mul8_kernel<<<dim3(bx, rows), 256, 0, stream>>>(a, lda, b, ldb, bias_a, bias_b, n8, out, ldo);
    return static_cast<int>(cudaGetLastError());
  }
  const int bx = (n + 255) / 256 < 64 ? (n + 255) / 256 : 64;
  silu_mul_kernel<<<dim3(bx, rows), 256, 0, stream>>>(a, lda, b, ldb, bias_a, bias_b, n, out, ldo);
  return static_cast<int>(cudaGetLastError());
}

int gather_rows_f32(const float* src, int lds, const int* index, int rows, int n, float* dst, int ldd,
                    cudaStream_t stream) {
  if (!src || !index || !dst || rows < 0 || n <= 0) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  gather_kernel<<<rows, 256, 0, stream>>>(src, lds, index, n, dst, ldd);
  return static_cast<int>(cudaGetLastError());
}

int interleave_chunks_f16(const __half* src, int chunks, int rows, int width, __half* dst, int ldd, cudaStream_t stream) {
  if (!src || !dst || chunks <= 0 || rows < 0 || width <= 0 || ldd < chunks * width) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  const int n = chunks * width;
  const int bx = (n + 255) / 256 < 64 ? (n + 255) / 256 : 64;
  interleave_kernel<<<dim3(bx, rows), 256, 0, stream>>>(src, chunks, rows, width, dst, ldd);
  return static_cast<int>(cudaGetLastError());
}

int add_bias_f32(float* out, int ldo, int rows, int n, const __half* bias, cudaStream_t stream) {
  if (!out || !bias || rows < 0 || n <= 0 || ldo < n) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  const int bx = (n + 255) / 256 < 64 ? (n + 255) / 256 : 64;
  add_bias_kernel<<<dim3(bx, rows), 256, 0, stream>>>(out, ldo, n, bias);
  return static_cast<int>(cudaGetLastError());
}

int f32_to_f16(const float* src, __half* dst, long n, cudaStream_t stream) {
  if (!src || !dst || n < 0) return cudaErrorInvalidValue;
  if (n == 0) return 0;
  const long blocks = (n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096;
  f32_to_f16_kernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(src, dst, n);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace nibble::kernels
