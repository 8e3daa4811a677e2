// Error mapping and RAII device/pinned buffers.
#include "backend/cuda/cuda_check.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace nibble::cuda {

bool is_sticky(int code) {
  switch (static_cast<cudaError_t>(code)) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
      return true;
    default:
      return false;
  }
}

Status check(int code, const char* what) {
  if (code == 0) return {};
  if (code >= 1000) {
    const int st = code - 1000;
    if (st == CUBLAS_STATUS_ALLOC_FAILED)
      return make_error(ErrorKind::out_of_memory, what, ": cuBLAS could not allocate its workspace");
    return make_error(ErrorKind::device, what, ": cuBLAS error ", st);
  }
  const cudaError_t err = static_cast<cudaError_t>(code);
  const char* text = cudaGetErrorString(err);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it
    return make_error(ErrorKind::out_of_memory, what, ": out of GPU memory (", text, ")");
  }
  if (is_sticky(code))
    return make_error(ErrorKind::device_lost, what, ": the GPU reported '", text,
                      "'; the device context is lost: reload the model");
  return make_error(ErrorKind::device, what, ": ", text);
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

Result<DeviceBuffer> DeviceBuffer::allocate(std::size_t bytes, const char* what) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (err == cudaErrorMemoryAllocation)
      return make_error(ErrorKind::out_of_memory, what, ": cannot allocate ", bytes, " bytes of GPU memory");
    return check(static_cast<int>(err), what).error();
  }
  b.ptr_ = p;
  b.bytes_ = bytes;
  return b;
}

Status DeviceBuffer::upload(const void* src, std::size_t bytes, std::size_t offset, const char* what) {
  if (offset + bytes > bytes_) return make_error(ErrorKind::internal, what, ": upload past the end of its buffer");
  if (bytes == 0) return {};
  return check(static_cast<int>(cudaMemcpy(static_cast<char*>(ptr_) + offset, src, bytes, cudaMemcpyHostToDevice)),
               what);
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_) cudaFreeHost(ptr_);
}

Result<PinnedBuffer> PinnedBuffer::allocate(std::size_t bytes, const char* what) {
  PinnedBuffer b;
  void* p = nullptr;
  const cudaError_t err = cudaMallocHost(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return make_error(ErrorKind::out_of_memory, what, ": cannot allocate ", bytes, " bytes of pinned host memory");
  }
  b.ptr_ = p;
  b.bytes_ = bytes;
  return b;
}

}  // namespace nibble::cuda
