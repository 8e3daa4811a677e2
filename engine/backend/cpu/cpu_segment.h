// CpuSegment: decoder layers [first, last) (plus embedding and/or final norm + head) resident in
// host memory, with this segment's share of the paged KV cache and the scratch one forward step
// needs. Implements Segment for the CPU backend; created by cpu_backend.cpp only.
#pragma once

#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_matrix.h"
#include "backend/cpu/cpu_ops.h"
#include "model/rope.h"
#include "model/spec.h"

namespace nibble {

struct CpuLayer {
  std::vector<float> attn_norm;  // [hidden]
  std::vector<float> mlp_norm;   // [hidden]
  std::vector<float> q_norm;     // [head_dim] (Qwen3), else empty
  std::vector<float> k_norm;     // [head_dim] (Qwen3), else empty
  CpuMatrix qkv;                 // [q_dim + 2 * kv_dim][hidden]: q | k | v
  CpuMatrix o;                   // [hidden][q_dim]
  CpuMatrix gate_up;             // [2 * intermediate][hidden]: gate | up
  CpuMatrix down;                // [hidden][intermediate]
  std::vector<float> k_cache;    // [kv_pages, page_size, n_kv_heads, head_dim] (fp32 cache)
  std::vector<float> v_cache;    // same layout
  std::vector<std::uint8_t> kq_cache, vq_cache;  // q8/q4 codes (see CpuKvLayer)
  std::vector<float> k_scales, v_scales;         // q8/q4 group scales (and q4 minimums)
  int sliding_window = 0;
};

class CpuSegment final : public Segment {
 public:
  static Result<std::unique_ptr<CpuSegment>> create(const ModelSpec& spec, const WeightSource& weights,
                                                    const SegmentOptions& opts, const LoadProgressFn& progress,
                                                    ThreadPool& pool);

  const SegmentOptions& options() const override { return opts_; }
  Status embed(const BatchPlan& plan) override;
  Status run_layers(const BatchPlan& plan) override;
  Status head(const BatchPlan& plan, float* logits) override;
  Status hidden_to_host(float* dst, int rows) override;
  Status hidden_from_host(const float* src, int rows) override;
  MemoryUse memory_use() const override;

 private:
  CpuSegment(const ModelSpec& spec, const SegmentOptions& opts, ThreadPool& pool);
  Status load(const WeightSource& weights, const LoadProgressFn& progress);
  void run_layer(CpuLayer& layer, const BatchPlan& plan);
  // Values per quantization group of the q8/q4 cache: kKvGroup, or head_dim when it does not divide.
  int kv_group() const { return spec_.head_dim % kKvGroup == 0 ? kKvGroup : spec_.head_dim; }

  ModelSpec spec_;
  SegmentOptions opts_;
  ThreadPool& pool_;
  RopeTable rope_;

  CpuMatrix embed_;              // [vocab][hidden] when has_embedding (or when the tied head needs it)
  CpuMatrix head_own_;           // [vocab][hidden] lm_head when not tied to embed_
  const CpuMatrix* head_ = nullptr;
  std::vector<float> final_norm_;  // [hidden]
  std::vector<CpuLayer> layers_;

  // Scratch, sized for opts_.max_rows rows.
  std::vector<float> hidden_;    // [rows][hidden] the residual stream
  std::vector<float> normed_;    // [rows][hidden]
  std::vector<float> qkv_;       // [rows][q_dim + 2 * kv_dim]
  std::vector<float> attn_;      // [rows][q_dim]
  std::vector<float> gate_up_;   // [rows][2 * intermediate]
  std::vector<float> act_;       // [rows][intermediate]
  std::vector<float> cos_, sin_; // [rows][head_dim / 2]
};

}  // namespace nibble
