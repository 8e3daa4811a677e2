// Element-wise helpers: SiLU-gated product to fp16, row gather, fp32 -> fp16 conversion, and the
// chunk interleave after a tensor-parallel all-gather.
#include "nibble_kernels/ops.h"

#include <cstdint>

namespace nibble::kernels {
namespace {

__global__ void silu_mul_kernel(const float* a, int lda, const float* b, int ldb, int n, __half* out, int ldo) {
  const int r = blockIdx.y;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float g = a[static_cast<std::size_t>(r) * lda + i];
    const float u = b[static_cast<std::size_t>(r) * ldb + i];
    out[static_cast<std::size_t>(r) * ldo + i] = __float2half_rn(g / (1.0f + __expf(-g)) * u);
  }
}

// Four columns per thread: 16-byte loads of a and b, one 8-byte store (every row start aligned).
__global__ void silu_mul4_kernel(const float* a, int lda, const float* b, int ldb, int n4, __half* out, int ldo) {
  const int r = blockIdx.y;
  const float4* ar = reinterpret_cast<const float4*>(a + static_cast<std::size_t>(r) * lda);
  const float4* br = reinterpret_cast<const float4*>(b + static_cast<std::size_t>(r) * ldb);
  uint2* o = reinterpret_cast<uint2*>(out + static_cast<std::size_t>(r) * ldo);
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) {
    const float4 g = __ldcs(ar + i), u = __ldcs(br + i);
    const half2 lo = __floats2half2_rn(g.x / (1.0f + __expf(-g.x)) * u.x, g.y / (1.0f + __expf(-g.y)) * u.y);
    const half2 hi = __floats2half2_rn(g.z / (1.0f + __expf(-g.z)) * u.z, g.w / (1.0f + __expf(-g.w)) * u.w);
    o[i] = make_uint2(*reinterpret_cast<const unsigned*>(&lo), *reinterpret_cast<const unsigned*>(&hi));
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

int silu_mul_f16(const float* a, int lda, const float* b, int ldb, int rows, int n, __half* out, int ldo,
                 cudaStream_t stream) {
  if (!a || !b || !out || rows < 0 || n <= 0) return cudaErrorInvalidValue;
  if (rows == 0) return 0;
  if (n % 4 == 0 && lda % 4 == 0 && ldb % 4 == 0 && ldo % 4 == 0 && aligned(a, 16) && aligned(b, 16) && aligned(out, 8)) {
    const int n4 = n / 4;
    const int bx = (n4 + 255) / 256 < 64 ? (n4 + 255) / 256 : 64;
    silu_mul4_kernel<<<dim3(bx, rows), 256, 0, stream>>>(a, lda, b, ldb, n4, out, ldo);
    return static_cast<int>(cudaGetLastError());
  }
  const int bx = (n + 255) / 256 < 64 ? (n + 255) / 256 : 64;
  silu_mul_kernel<<<dim3(bx, rows), 256, 0, stream>>>(a, lda, b, ldb, n, out, ldo);
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
