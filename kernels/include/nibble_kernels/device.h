// Device discovery and error-code helpers for the kernels library (raw CUDA runtime, no engine
// types). Every function returns a cudaError_t-compatible int; 0 means success.
#pragma once

#include <cstddef>

namespace nibble::kernels {

struct DeviceProps {
  char name[256];
  int major;
  int minor;
  int multiprocessors;
  std::size_t total_bytes;
  std::size_t free_bytes;
  std::size_t l2_bytes;
  std::size_t shared_per_block_optin;
};

// Number of CUDA devices; 0 (and returns 0) when no driver or device is present.
int device_count(int* count);
int device_props(int device, DeviceProps* props);
// Human-readable text for an error code returned by any kernels function.
const char* error_string(int code);

}  // namespace nibble::kernels
