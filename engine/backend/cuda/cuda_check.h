// CUDA error handling and device memory for the CUDA backend: maps cudaError_t / cuBLAS status to
// typed engine errors (out_of_memory, device_lost for sticky faults, device otherwise) and owns
// device allocations (DeviceBuffer, RAII). Host side only; used by every file in backend/cuda.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "nibble/error.h"

namespace nibble::cuda {

// 0 -> ok; otherwise an Error naming `what`. Codes >= 1000 are cuBLAS statuses (1000 + status).
Status check(int code, const char* what);

// True for errors after which the CUDA context is unusable (illegal address, launch failure, ...).
bool is_sticky(int code);

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // out_of_memory names `what` and the size.
  static Result<DeviceBuffer> allocate(std::size_t bytes, const char* what);

  void* data() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  std::size_t size() const { return bytes_; }

  // Host -> device copy (synchronous); `what` names the data in errors.
  Status upload(const void* src, std::size_t bytes, std::size_t offset, const char* what);

 private:
  void swap(DeviceBuffer& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
  }
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// Pinned host memory for per-step metadata uploads (async copies from pageable memory would sync).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept {
    std::swap(ptr_, other.ptr_);
    std::swap(bytes_, other.bytes_);
  }
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept {
    PinnedBuffer tmp(std::move(other));
    std::swap(ptr_, tmp.ptr_);
    std::swap(bytes_, tmp.bytes_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  static Result<PinnedBuffer> allocate(std::size_t bytes, const char* what);
  void* data() const { return ptr_; }
  std::size_t size() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace nibble::cuda
