// Bandwidth probe for bench_kernels: a grid-stride kernel that reads a buffer with 16-byte loads
// and writes one word per block, the practical read ceiling the GEMV kernels are compared with.
#include <cuda_runtime.h>

#include <cstdint>

namespace {

__global__ void stream_read_kernel(const uint4* __restrict__ p, std::size_t n, unsigned* sink) {
  unsigned acc = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const uint4 v = __ldg(p + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) sink[blockIdx.x] = acc;  // keeps the loads alive
}

}  // namespace

// Reads `bytes` from `p` (16-byte aligned) once; returns a cudaError_t value.
int bench_stream_read(const void* p, std::size_t bytes, unsigned* sink, int sms, cudaStream_t s) {
  stream_read_kernel<<<sms * 8, 256, 0, s>>>(static_cast<const uint4*>(p), bytes / 16, sink);
  return static_cast<int>(cudaGetLastError());
}
