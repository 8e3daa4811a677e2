// CudaBackend: device info and segment creation for one GPU.
#include "backend/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <optional>
#include <string>

#include "backend/cuda/cuda_segment.h"

namespace nibble {
namespace {

std::optional<DeviceInfo> device_info(int device) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  DeviceInfo info;
  info.kind = DeviceKind::cuda;
  info.index = device;
  info.name = p.name;
  info.total_bytes = p.totalGlobalMem;
  int current = 0;
  cudaGetDevice(&current);
  std::size_t free_b = 0, total_b = 0;
  if (cudaSetDevice(device) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
    info.free_bytes = free_b;
    info.total_bytes = total_b;
  }
  cudaGetLastError();
  cudaSetDevice(current);
  return info;
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {}
  DeviceInfo info() const override {
    auto i = device_info(device_);
    return i ? *i : DeviceInfo{DeviceKind::cuda, device_, "CUDA device " + std::to_string(device_), 0, 0};
  }
  Result<std::unique_ptr<Segment>> create_segment(const ModelSpec& spec, const WeightSource& weights,
                                                  const SegmentOptions& opts, const LoadProgressFn& progress) override {
    auto seg = cuda::CudaSegment::create(device_, spec, weights, opts, progress);
    if (!seg.ok()) return std::move(seg).error();
    return std::unique_ptr<Segment>(std::move(seg).value());
  }

 private:
  int device_;
};

}  // namespace

std::optional<DeviceInfo> cuda_device(int index) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  if (index < 0 || index >= n) return std::nullopt;
  return device_info(index);
}

std::vector<DeviceInfo> cuda_devices() {
  std::vector<DeviceInfo> out;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return out;
  }
  for (int d = 0; d < n; ++d)
    if (auto i = device_info(d)) out.push_back(*i);
  return out;
}

Result<std::unique_ptr<Backend>> make_cuda_backend(int device) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    n = 0;
  }
  if (n == 0)
    return make_error(ErrorKind::device, "no CUDA GPU or driver found for device cuda:", device,
                      "; install the NVIDIA driver or choose the CPU device");
  if (device < 0 || device >= n)
    return make_error(ErrorKind::invalid_argument, "CUDA device cuda:", device, " does not exist (", n,
                      " device(s) present: cuda:0..cuda:", n - 1, ")");
  return std::unique_ptr<Backend>(new CudaBackend(device));
}

}  // namespace nibble
