// Device discovery for the public API: CUDA devices through the CUDA backend when built, host
// memory from /proc/meminfo.
#include "nibble/devices.h"

#include <fstream>
#include <sstream>

#if NIBBLE_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace nibble {

std::vector<GpuInfo> list_gpus() {
  std::vector<GpuInfo> out;
#if NIBBLE_HAVE_CUDA
  for (const auto& d : cuda_devices()) out.push_back({d.index, d.name, d.total_bytes, d.free_bytes});
#endif
  return out;
}

HostMemory host_memory() {
  HostMemory m;
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::size_t kb = 0;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemTotal:") m.total_bytes = kb * 1024;
    if (key == "MemAvailable:") m.available_bytes = kb * 1024;
  }
  return m;
}

std::string default_device() { return list_gpus().empty() ? "cpu" : "cuda:0"; }

}  // namespace nibble
