// The CPU backend: the exact reference device. Creates CpuSegments (weights in host memory,
// fp32 activations and accumulation, fp32 paged KV cache) that run on a ThreadPool the caller
// owns. Used by model/ for CPU placement and by tests as the oracle for other backends.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "util/thread_pool.h"

namespace nibble {

// `pool` must outlive the backend and every segment it creates.
std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool);

}  // namespace nibble
