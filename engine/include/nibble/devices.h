// Public device discovery: the GPUs the CUDA backend can use (empty in a CPU-only build or without a
// driver/GPU) and the host's memory. Used by the app (device badge, memory estimates) and the CLI.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace nibble {

struct GpuInfo {
  int index = 0;                 // use as "cuda:<index>"
  std::string name;              // "NVIDIA H100 80GB HBM3"
  std::size_t total_bytes = 0;
  std::size_t free_bytes = 0;
};

std::vector<GpuInfo> list_gpus();

struct HostMemory {
  std::size_t total_bytes = 0;
  std::size_t available_bytes = 0;
};

HostMemory host_memory();

// "cuda:0" when a usable GPU is present, else "cpu".
std::string default_device();

}  // namespace nibble
