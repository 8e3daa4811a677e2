// Device discovery for the kernels library.
#include <cuda_runtime.h>

#include <atomic>
#include <cstring>

#include "launch.cuh"
#include "nibble_kernels/device.h"

namespace nibble::kernels {

int device_count(int* count) {
  *count = 0;
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    cudaGetLastError();  // clear the non-sticky error
    return 0;
  }
  if (err != cudaSuccess) return static_cast<int>(err);
  *count = n;
  return 0;
}

int device_props(int device, DeviceProps* props) {
  cudaDeviceProp p{};
  cudaError_t err = cudaGetDeviceProperties(&p, device);
  if (err != cudaSuccess) return static_cast<int>(err);
  std::memset(props, 0, sizeof *props);
  std::strncpy(props->name, p.name, sizeof props->name - 1);
  props->major = p.major;
  props->minor = p.minor;
  props->multiprocessors = p.multiProcessorCount;
  props->total_bytes = p.totalGlobalMem;
  props->l2_bytes = static_cast<std::size_t>(p.l2CacheSize);
  props->shared_per_block_optin = p.sharedMemPerBlockOptin;
  int current = 0;
  if ((err = cudaGetDevice(&current)) != cudaSuccess) return static_cast<int>(err);
  if ((err = cudaSetDevice(device)) != cudaSuccess) return static_cast<int>(err);
  std::size_t free_b = 0, total_b = 0;
  err = cudaMemGetInfo(&free_b, &total_b);
  cudaSetDevice(current);
  if (err != cudaSuccess) return static_cast<int>(err);
  props->free_bytes = free_b;
  return 0;
}

const char* error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

bool pdl_supported() {
  static int cached[64];  // 0 unknown, 1 no, 2 yes (per device ordinal)
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
    cudaGetLastError();
    return false;
  }
  if (cached[dev] == 0) {
    int major = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaGetLastError();
    cached[dev] = major >= 9 ? 2 : 1;
  }
  return cached[dev] == 2;
}

DeviceInfo device_info() {
  static std::atomic<int> sms[64] = {};
  static std::atomic<int> smem[64] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  const bool slot = device >= 0 && device < 64;
  if (slot && sms[device].load(std::memory_order_relaxed) > 0)
    return {sms[device].load(std::memory_order_relaxed), static_cast<std::size_t>(smem[device].load(std::memory_order_relaxed))};
  int n = 0, s = 0;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&s, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  if (slot) {
    smem[device].store(s, std::memory_order_relaxed);
    sms[device].store(n, std::memory_order_relaxed);
  }
  return {n, static_cast<std::size_t>(s)};
}

}  // namespace nibble::kernels
