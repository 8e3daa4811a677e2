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

// Every CUDA device, in ordinal order (empty without a driver or GPU). Creates a context on each.
std::vector<DeviceInfo> cuda_devices();
// One device (its context is created if it was not); nullopt when it does not exist.
std::optional<DeviceInfo> cuda_device(int index);

}  // namespace nibble
