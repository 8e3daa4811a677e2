// The CUDA backend: one instance per GPU, creating CudaSegments on it. Also enumerates the GPUs
// (none when no driver or device is present, which is not an error). Used by model/.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "backend/backend.h"

namespace nibble {

// invalid_argument for an ordinal that does not exist; unsupported for a GPU older than sm_86.
Result<std::unique_ptr<Backend>> make_cuda_backend(int device);

// Every layer shared among `devices` (two or more distinct GPUs): attention heads and MLP columns
// per GPU, NCCL collectives between them (backend/cuda/cuda_tensor_parallel.h). `opts` covers the
// whole model. unsupported when NCCL cannot be loaded or the heads do not divide among the GPUs.
Result<std::unique_ptr<Segment>> make_tensor_parallel_segment(const std::vector<int>& devices, const ModelSpec& spec,
                                                              const WeightSource& weights, const SegmentOptions& opts,
                                                              const LoadProgressFn& progress);

// Every CUDA device, in ordinal order (empty without a driver or GPU). Creates a context on each.
std::vector<DeviceInfo> cuda_devices();
// One device (its context is created if it was not); nullopt when it does not exist.
std::optional<DeviceInfo> cuda_device(int index);

}  // namespace nibble
