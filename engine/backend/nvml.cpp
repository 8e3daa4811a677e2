// NVML through dlopen: the handful of entry points the dashboard reads, resolved once. The NVML C
// API is stable (v2 symbols since driver 325); the structs used here are the documented layouts.
#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <type_traits>
#include <unistd.h>

#include "nibble/devices.h"

namespace nibble {
namespace {

using nvmlReturn = int;  // NVML_SUCCESS = 0
using nvmlDevice = void*;
struct NvmlUtilization {
  unsigned gpu;
  unsigned memory;
};
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr int kNvmlTemperatureGpu = 0;

struct Nvml {
  void* lib = nullptr;
  bool ok = false;
  nvmlReturn (*init)() = nullptr;
  nvmlReturn (*count)(unsigned*) = nullptr;
  nvmlReturn (*handle)(unsigned, nvmlDevice*) = nullptr;
  nvmlReturn (*name)(nvmlDevice, char*, unsigned) = nullptr;
  nvmlReturn (*util)(nvmlDevice, NvmlUtilization*) = nullptr;
  nvmlReturn (*memory)(nvmlDevice, NvmlMemory*) = nullptr;
  nvmlReturn (*temperature)(nvmlDevice, int, unsigned*) = nullptr;

  Nvml() {
    const char* override_path = std::getenv("NIBBLE_NVML_LIBRARY");
    lib = dlopen(override_path && *override_path ? override_path : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    auto sym = [&](auto& fn, const char* a, const char* b) {
      void* p = dlsym(lib, a);
      if (!p && b) p = dlsym(lib, b);
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
      return p != nullptr;
    };
    ok = sym(init, "nvmlInit_v2", "nvmlInit") && sym(count, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount") &&
         sym(handle, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex") &&
         sym(name, "nvmlDeviceGetName", nullptr) && sym(util, "nvmlDeviceGetUtilizationRates", nullptr) &&
         sym(memory, "nvmlDeviceGetMemoryInfo", nullptr) && sym(temperature, "nvmlDeviceGetTemperature", nullptr);
    ok = ok && init() == 0;
    // The library stays loaded for the life of the process (NVML keeps driver state).
  }
};

Nvml& nvml() {
  static Nvml n;
  return n;
}

}  // namespace

bool nvml_available() { return nvml().ok; }

std::vector<GpuTelemetry> gpu_telemetry() {
  std::vector<GpuTelemetry> out;
  Nvml& n = nvml();
  if (!n.ok) return out;
  unsigned count = 0;
  if (n.count(&count) != 0) return out;
  for (unsigned i = 0; i < count; ++i) {
    nvmlDevice dev = nullptr;
    if (n.handle(i, &dev) != 0) continue;
    GpuTelemetry t;
    t.index = static_cast<int>(i);
    char buf[96] = {};
    if (n.name(dev, buf, sizeof buf) == 0) t.name = buf;
    NvmlUtilization u{};
    if (n.util(dev, &u) == 0) {
      t.utilization_percent = u.gpu;
      t.memory_utilization_percent = u.memory;
    }
    NvmlMemory m{};
    if (n.memory(dev, &m) == 0) {
      t.total_bytes = m.total;
      t.used_bytes = m.used;
    }
    unsigned temp = 0;
    if (n.temperature(dev, kNvmlTemperatureGpu, &temp) == 0) t.temperature_c = static_cast<int>(temp);
    out.push_back(std::move(t));
  }
  return out;
}

std::size_t process_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  if (!(in >> pages >> resident)) return 0;
  const long page = sysconf(_SC_PAGESIZE);
  return resident * static_cast<std::size_t>(page > 0 ? page : 4096);
}

}  // namespace nibble
