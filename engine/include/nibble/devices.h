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

// Live GPU figures from NVML (utilisation, temperature, memory as the driver sees it). NVML is
// opened at run time (dlopen of libnvidia-ml.so.1, or the file NIBBLE_NVML_LIBRARY names) with no
// link-time dependency; without it every call answers "not available" and nothing is an error.
struct GpuTelemetry {
  int index = 0;                  // NVML device index (the CUDA ordinal on a default setup)
  std::string name;
  unsigned utilization_percent = 0;  // GPU busy time over the driver's last sample period
  unsigned memory_utilization_percent = 0;
  int temperature_c = 0;
  std::size_t total_bytes = 0;
  std::size_t used_bytes = 0;     // by every process
};

// True when NVML loaded and initialised (checked once per process).
bool nvml_available();
// One entry per NVML device; empty when NVML is not available.
std::vector<GpuTelemetry> gpu_telemetry();

// This process's resident set (bytes, /proc/self/statm); 0 when it cannot be read.
std::size_t process_rss_bytes();

}  // namespace nibble
