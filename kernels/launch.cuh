// Kernel launch with programmatic dependent launch (PDL) where the device supports it (sm_90):
// the next kernel in the stream may begin (and prefetch weights) while this one drains; kernels
// launched this way call cudaGridDependencySynchronize() before touching earlier kernels' data.
// Internal to the kernels library.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace nibble::kernels {

// Lets the next PDL-launched kernel in the stream start launching (call early).
__device__ __forceinline__ void allow_next_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}

// Waits until every earlier kernel in the stream has finished and its writes are visible.
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
}

// Whether the current device supports PDL (compute capability >= 9.0); cached per device.
bool pdl_supported();

// Attributes of the current GPU, cached per device (constant for its lifetime); zeros when the
// query fails.
struct DeviceInfo {
  int sms = 0;
  std::size_t smem_optin = 0;
};
DeviceInfo device_info();

template <class Kernel, class... Args>
int launch_pdl(Kernel kernel, dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream, const Args&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  if (pdl_supported()) {
    cfg.attrs = attr;
    cfg.numAttrs = 1;
  }
  return static_cast<int>(cudaLaunchKernelEx(&cfg, kernel, args...));
}

}  // namespace nibble::kernels
