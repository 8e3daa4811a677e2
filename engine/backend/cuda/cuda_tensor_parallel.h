// TensorParallelSegment: every decoder layer shared among two or more GPUs (tensor parallelism).
// Each GPU holds a CudaSegment with its share of every layer (opts.shard of opts.shards): its
// attention heads and their KV cache, the whole o_proj, and a share of the MLP cut along the down
// matrix's permuted rows at group boundaries (gate/up produce exactly the intermediate columns that
// share reads). The residual stream is replicated. Per layer, one thread issues on every GPU in
// turn: the attention half, an all-gather of the heads' outputs, the MLP half, an all-reduce of the
// hidden rows. When every pair of GPUs has peer access (NVLink, or PCIe peer-to-peer) the
// collectives are one-shot kernels that read the other GPUs' buffers directly
// (nibble_kernels/collective.h: a barrier of flags, then the reads; a few microseconds for a decode
// step's rows); otherwise, or with NIBBLE_TP_NCCL=1, they are NCCL's (loaded at run time). Decode
// steps are captured as one CUDA graph per GPU (collectives included) and replayed. Share 0 holds
// the head and samples; every share embeds.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_segment.h"
#include "backend/cuda/nccl_runtime.h"
#include "nibble_kernels/collective.h"

namespace nibble::cuda {

class TensorParallelSegment final : public Segment {
 public:
  // `opts` describes the whole model (every layer, embedding and head); shard/shards are set here.
  static Result<std::unique_ptr<Segment>> create(const std::vector<int>& devices, const ModelSpec& spec,
                                                 const WeightSource& weights, const SegmentOptions& opts,
                                                 const LoadProgressFn& progress);
  ~TensorParallelSegment() override;

  const SegmentOptions& options() const override { return opts_; }
  Status embed(const BatchPlan& plan) override;
  Status run_layers(const BatchPlan& plan) override;
  Status head(const BatchPlan& plan, float* logits) override;
  bool can_sample() const override { return true; }
  Status head_sample(const BatchPlan& plan, std::span<const DeviceSampling> sampling, std::int32_t* ids) override;
  Status hidden_to_host(float* dst, int rows) override;
  Status hidden_from_host(const float* src, int rows) override;
  MemoryUse memory_use() const override;
  std::vector<std::pair<std::string, MemoryUse>> memory_by_device() const override;

 private:
  TensorParallelSegment() = default;
  kernels::PeerCollectiveArgs peer_args(int rank) const;
  Status gather_attention(int rows);
  Status reduce_hidden(int rows);
  Status enqueue_decode(int rows, int context);
  Status enqueue_prefill(int rows);
  Status sync_others();

  SegmentOptions opts_;
  std::vector<std::unique_ptr<CudaSegment>> shards_;
  std::unique_ptr<NcclGroup> nccl_;       // when the collectives go through NCCL
  std::vector<DeviceBuffer> signals_;     // peer collectives: each GPU's kernels::PeerSignal
  bool graphs_ok_ = true;  // false once capturing the collectives failed: decode steps run eagerly
  std::map<std::pair<int, int>, std::vector<cudaGraphExec_t>> graphs_;  // (rows, context) -> one per GPU
};

}  // namespace nibble::cuda
