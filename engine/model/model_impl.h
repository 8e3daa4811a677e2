// ModelImpl: the Model behind the public API. Owns the thread pool, the backends, the chain of
// segments (embedding on the first, head on the last; hidden states cross at the boundaries
// through peer copies or host memory) and the KV page pool. Forward steps are validated here once, so
// segments can trust a BatchPlan. Internal to engine/model.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/page_pool.h"
#include "model/spec.h"
#include "nibble/model.h"
#include "util/thread_pool.h"

namespace nibble {

class ModelImpl final : public Model {
 public:
  static Result<std::unique_ptr<Model>> load(const std::string& path, const LoadOptions& options);

  const ModelInfo& info() const override { return info_; }
  int vocab_size() const override { return spec_.vocab_size; }
  int max_batch_tokens() const override { return max_rows_; }
  int page_size() const override { return page_size_; }
  const std::vector<int>& stop_ids() const override { return spec_.eos_ids; }
  int pages_total() const override { return pages_->total(); }
  int pages_free() const override { return pages_->free_count(); }
  Result<std::vector<std::int32_t>> allocate_pages(int count) override { return pages_->allocate(count); }
  void free_pages(std::span<const std::int32_t> pages) override { pages_->release(pages); }
  Status forward(std::span<const ForwardSeq> seqs, std::vector<float>& logits) override;
  Status forward_sample(std::span<const ForwardSeq> seqs, std::span<const DeviceSampling> sampling,
                        std::vector<std::int32_t>& ids) override;
  std::unique_ptr<Sequence> new_sequence() override;
  std::vector<DeviceMemoryUse> memory_use() const override;
  double load_seconds() const override { return load_seconds_; }

  // Runs a validated plan through the segment chain; logits: [plan.logit_rows.size()][vocab].
  Status forward_plan(const BatchPlan& plan, float* logits);

 private:
  ModelImpl() = default;
  // Checks `seqs` and fills plan (backed by step_tokens_, step_positions_, step_logit_rows_).
  Status build_plan(std::span<const ForwardSeq> seqs, BatchPlan& plan);
  // Embedding and every segment's layers (hidden rows handed across segment boundaries).
  Status run_plan(const BatchPlan& plan);

  ModelInfo info_;
  ModelSpec spec_;
  int max_rows_ = 0;
  int page_size_ = 0;
  double load_seconds_ = 0;
  std::unique_ptr<ThreadPool> pool_;                 // destroyed last: segments run on it
  std::vector<std::unique_ptr<Backend>> backends_;
  std::vector<std::unique_ptr<Segment>> segments_;   // in layer order
  std::vector<std::string> devices_;                 // each segment's device ("cpu", "cuda:N")
  std::vector<bool> direct_handoff_;                 // [i]: segment i-1 hands its hidden rows to i on the GPUs
  std::unique_ptr<PagePool> pages_;
  std::vector<float> boundary_;                      // [max_rows][hidden] hidden state between segments
  std::vector<std::int32_t> step_tokens_, step_positions_, step_logit_rows_;
};

}  // namespace nibble
