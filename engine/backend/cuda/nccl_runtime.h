// NCCL, loaded at run time (dlopen of libnccl.so.2; NIBBLE_NCCL_LIBRARY names another file), for
// the tensor-parallel segment's collectives. A build needs no NCCL headers or library, and a
// machine without NCCL gets a typed error naming the library only when it asks for tensor
// parallelism. One communicator per GPU of the group, all created by this process
// (ncclCommInitAll); collectives over several GPUs are issued from one thread inside one NCCL
// group, which is also how they are captured into the per-GPU decode graphs.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nibble/error.h"

namespace nibble::cuda {

enum class CollectiveType : int { fp16, fp32 };

// One rank's part of a collective: its buffers and stream (on its GPU).
struct CollectiveRank {
  const void* send = nullptr;
  void* recv = nullptr;
  cudaStream_t stream = nullptr;
};

class NcclGroup {
 public:
  ~NcclGroup();
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  // Communicators over `devices` (CUDA ordinals, distinct). unsupported when NCCL cannot be loaded
  // (naming the library and what to install), device errors otherwise.
  static Result<std::unique_ptr<NcclGroup>> create(const std::vector<int>& devices);

  int size() const { return static_cast<int>(comms_.size()); }
  int device(int rank) const { return devices_[static_cast<std::size_t>(rank)]; }
  // "NCCL 2.28.9"
  std::string version() const;

  // Sum of every rank's `count` elements, into each rank's recv (send == recv is in place).
  Status all_reduce(std::span<const CollectiveRank> ranks, std::size_t count, CollectiveType type);
  // Concatenation of every rank's `count` elements (rank order) into each rank's recv.
  Status all_gather(std::span<const CollectiveRank> ranks, std::size_t count, CollectiveType type);

 private:
  NcclGroup() = default;
  Status collective(bool gather, std::span<const CollectiveRank> ranks, std::size_t count, CollectiveType type);

  std::vector<int> devices_;
  std::vector<void*> comms_;
  int version_ = 0;
};

}  // namespace nibble::cuda
