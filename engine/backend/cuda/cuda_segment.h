// CudaSegment: decoder layers [first, last) (plus embedding and/or final norm + head) resident on
// one CUDA GPU, with this segment's share of the paged KV cache (fp16, or q8/q4 codes with per-group
// fp16 scales: nibble_kernels/kv_cache.h), one allocation plan for
// scratch (nothing is allocated per token) and captured CUDA graphs for decode steps. Implements
// Segment for the CUDA backend; created by cuda_backend.cpp only. Forward paths: cuda_forward.cpp.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_linear.h"
#include "model/spec.h"
#include "nibble_kernels/attention.h"
#include "nibble_kernels/decode_fused.h"
#include "nibble_kernels/kv_cache.h"
#include "nibble_kernels/ops.h"
#include "nibble_kernels/sampling.h"

namespace nibble::cuda {

class TensorParallelSegment;

// The context length a decode graph is captured for: a power of two from 256 up, at most capacity.
int context_bucket(int needed, int capacity);

// Whether `from` can write into `to`'s memory; enables peer access the first time a pair is asked.
// NIBBLE_DISABLE_PEER=1 turns peer access off (systems whose peer-to-peer path is broken or slow):
// GPU -> GPU hand-offs then go through pinned host memory, tensor parallelism through NCCL.
bool peer_access(int from, int to);

struct CudaLayer {
  DeviceBuffer attn_norm;  // [hidden] fp16
  DeviceBuffer mlp_norm;   // [hidden] fp16
  DeviceBuffer q_norm;     // [head_dim] fp16 (Qwen3), else empty
  DeviceBuffer k_norm;
  DeviceLinear q, k, v, o, gate, up, down;
  DeviceBuffer k_cache;    // [kv_pages, page_size, n_kv_heads, head_dim] fp16, or q8/q4 codes (kv_cache.h)
  DeviceBuffer v_cache;
  DeviceBuffer k_scales;   // q8/q4: per-group fp16 scales (and q4 minimums) of every cache row
  DeviceBuffer v_scales;
  int sliding_window = 0;
};

class CudaSegment final : public Segment {
 public:
  static Result<std::unique_ptr<CudaSegment>> create(int device, const ModelSpec& spec, const WeightSource& weights,
                                                     const SegmentOptions& opts, const LoadProgressFn& progress);
  ~CudaSegment() override;

  const SegmentOptions& options() const override { return opts_; }
  Status embed(const BatchPlan& plan) override;
  Status run_layers(const BatchPlan& plan) override;
  Status head(const BatchPlan& plan, float* logits) override;
  Status hidden_to_host(float* dst, int rows) override;
  Status hidden_from_host(const float* src, int rows) override;
  Status hidden_to_segment(Segment& next, int rows) override;
  MemoryUse memory_use() const override;

  // Head + token choice on the GPU: only the chosen ids ([logit_rows.size()]) reach the host.
  bool can_sample() const override { return opts_.has_head; }
  Status head_sample(const BatchPlan& plan, std::span<const DeviceSampling> sampling, std::int32_t* ids) override;
  Status head_sample(const BatchPlan& plan, const kernels::SampleRow* params, std::int32_t* ids);

  // Decode steps with at most decode_rows() rows use GEMV kernels and captured graphs: 32 when
  // every linear of the segment (and its head) takes the uniform 4-bit kernels, whose 9-32 row
  // kernel reads the weights once; 8 otherwise, where more rows are cheaper as GEMMs (fp16 weights
  // straight, other quantized ones dequantized) than as passes of 8 rows.
  static constexpr int kMaxDecodeRows = 32;
  static constexpr int kNarrowDecodeRows = 8;
  int decode_rows() const { return decode_rows_; }

 private:
  friend class TensorParallelSegment;
  // One of the quantized/dense products of the prefill path: 1-3 matrices sharing an input,
  // outputs side by side in C.
  struct PrefillGemm {
    const DeviceLinear* m[3] = {nullptr, nullptr, nullptr};
    int count = 0;
    const __half* a = nullptr;
    int lda = 0;
    void* c = nullptr;
    bool c_fp32 = true;  // false: fp16 output (gate/up, whose biases the SiLU product adds)
    int ldc = 0;
    float beta = 0.0f;
    bool quantized() const;
    int n_total() const;
  };

  CudaSegment(int device, const ModelSpec& spec, const SegmentOptions& opts);
  Status init_device();
  Status load(const WeightSource& weights, const LoadProgressFn& progress);
  Status allocate_scratch();
  // Decides fused_ and fills fused_table_ (after the weights and scratch are in place); an error
  // when NIBBLE_FUSED_DECODE=1 asks for the fused kernel and the model cannot take it.
  Status setup_fused();
  Status fail(Status s);  // records device_lost and returns s
  // The layer's cache pools and type for the append and attention kernels.
  kernels::KvType kv_type() const;
  void bind_kv(const CudaLayer& L, kernels::RopeKvArgs& r, kernels::AttentionArgs& at) const;

  // Metadata for a plan: positions, row -> sequence, block tables; returns the ctx bound.
  Result<int> upload_plan(const BatchPlan& plan, bool tokens, bool logit_rows);
  Status enqueue_decode_layers(int rows, int context);
  Status enqueue_prefill_layers(int rows);
  // The halves of one layer, split where a tensor-parallel step gathers the attention output
  // (after *_attention) and sums the MLP's partial outputs (after *_mlp).
  // qkv16: the q/k/v rows are fp16 (prompt GEMMs, see prefill_qkv_fp16), else fp32.
  Status rope_kv_and_attention_args(const CudaLayer& L, int rows, kernels::AttentionArgs& at, bool qkv16 = false);
  // Whether the layer's prompt q/k/v GEMM writes fp16 rows (RoPE reads them, rotates q in place as
  // fp16 and the prompt attention reads that): an fp16 cache, no q/k norm, no q/k/v bias, a head
  // dim the prompt attention and the 16-byte RoPE path take. Else fp32 rows, as in decode.
  bool prefill_qkv_fp16(const CudaLayer& L) const;
  Status decode_attention(std::size_t li, int rows, int context);
  Status decode_mlp(std::size_t li, int rows);
  Status prefill_begin();
  Status prefill_attention(std::size_t li, int rows);
  Status prefill_mlp(std::size_t li, int rows);
  PrefillGemm prefill_point(int p);
  Status prefill_dequant(int p);
  Status prefill_gemm(int p, int rows);
  // Tensor parallelism: the all-gathered attention output as o_proj reads it ([rows, q_dim]).
  const __half* o_input(int rows, int& ld);
  Status enqueue_head(int n, float* out_logits);
  Status gemv(const DeviceLinear* const* mats, int count, const void* x, int ldx, bool rmsnorm_input,
              const DeviceBuffer* norm, kernels::QGemvOutput output, void* const* outs, const int* lds, int rows,
              float* ss_out = nullptr, const float* ss_in = nullptr);
  Status gemm(const DeviceLinear& m, const __half* a, int lda, int rows, void* c, int ldc, bool c_fp32, float beta,
              int col_offset_in_scratch);

  int device_;
  ModelSpec spec_;
  SegmentOptions opts_;
  // This segment's share of each layer (the whole layer unless opts_.shards > 1).
  int heads_ = 0;
  int kv_heads_ = 0;
  int qd_ = 0;         // heads_ * head_dim
  int kvd_ = 0;        // kv_heads_ * head_dim
  int inter_max_ = 0;  // widest intermediate share over the layers (MLP cuts follow each layer's groups)
  // Tensor parallelism through peer-access kernels (set by the tensor-parallel segment): the down
  // projection stores its partial sum into partial_, and the all-gather writes whole rows of attn_cat_.
  bool peer_collectives_ = false;
  bool lost_ = false;
  cudaStream_t stream_ = nullptr;
  cudaStream_t aux_ = nullptr;            // prefill: dequantization one GEMM ahead
  cudaEvent_t deq_done_[2] = {nullptr, nullptr};
  cudaEvent_t gemm_done_[2] = {nullptr, nullptr};
  cublasHandle_t cublas_ = nullptr;
  int sm_count_ = 0;

  std::vector<CudaLayer> layers_;
  DeviceBuffer embed_;       // [vocab, hidden] fp16 (has_embedding, or tied head)
  DeviceLinear head_;        // lm_head (dense view over embed_ when tied)
  DeviceBuffer final_norm_;  // [hidden] fp16
  DeviceBuffer inv_freq_;    // [head_dim / 2] fp32
  float attn_factor_ = 1.0f;
  std::size_t weight_bytes_ = 0;
  std::size_t kv_bytes_ = 0;
  std::size_t scratch_bytes_ = 0;

  // Scratch (rows = opts_.max_rows unless noted).
  DeviceBuffer hidden_;     // [rows, hidden] fp32 residual stream
  DeviceBuffer qkv_;        // [rows, q_dim + 2 kv_dim] fp32
  DeviceBuffer attn_;       // [rows, q_dim] fp16 (this share's heads)
  DeviceBuffer attn_all_;   // tensor parallel: [shards][rows][q_dim / shards] fp16, the all-gather's result
  DeviceBuffer attn_cat_;   // tensor parallel: [rows, q_dim] fp16, every share's heads side by side
  DeviceBuffer partial_;    // tensor parallel over peer access: [rows, hidden] fp32, this share's MLP sum
  DeviceBuffer normed_;     // [rows, hidden] fp16 (prefill GEMM input)
  DeviceBuffer gate_up_;    // [rows, 2 intermediate] fp16 (prefill)
  DeviceBuffer act_;        // [rows, intermediate] fp16 (this share's columns, in the down matrix's row order)
  DeviceBuffer wscratch_[2];  // dequantized weights of the current and the next prefill GEMM
  std::size_t wscratch_elems_ = 0;
  DeviceBuffer head_in_;    // [rows, hidden] fp32 gathered logit rows
  DeviceBuffer logits_;     // [rows, vocab] fp32
  DeviceBuffer meta_;       // int32 metadata, see upload_plan
  PinnedBuffer meta_host_;
  PinnedBuffer bounce_;     // [rows, hidden] fp32: hand-off to a GPU without peer access (not the last segment)
  DeviceBuffer sample_params_;  // [rows] SampleRow
  DeviceBuffer sample_ids_;     // [rows] int32
  DeviceBuffer gemv_ws_;
  DeviceBuffer gemv_counters_;
  DeviceBuffer norm_stats_;  // [2][kMaxDecodeRows][hidden / 32]: RMSNorm sums of squares handed between GEMVs
                             // (the fused kernel's counters when it runs: nothing in it outlives a step)
  int decode_rows_ = kNarrowDecodeRows;  // set at load (decode_rows())
  DeviceBuffer attn_ws_;      // also the fused kernel's attention partials
  // Whether one-row decode steps run the fused persistent kernel (nibble_kernels/decode_fused.h):
  // only with NIBBLE_FUSED_DECODE=1 (it is not yet faster than the per-kernel graph), and then a
  // model that cannot take it (a layer outside its scope, a quantized cache, tensor parallelism, a
  // GPU other than compute capability 9.x) fails to load with the reason.
  bool fused_ = false;
  DeviceBuffer fused_table_;  // [layers] kernels::FusedLayer (allocated for every segment; filled when fused_)
  DeviceBuffer attn_counters_;
  int max_pages_ = 0;       // block-table row width (= opts_.kv_pages)
  int n_tiles_ = 0;         // prefill attention tiles of the current step

  std::map<std::pair<int, int>, cudaGraphExec_t> graphs_;  // (rows, context bucket) -> decode layers
};

}  // namespace nibble::cuda
