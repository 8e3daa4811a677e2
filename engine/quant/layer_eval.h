// The fp32 forward of one decoder layer's two blocks over calibration rows (independent
// sequences of `length` tokens, positions 0..length-1), split into the pieces the quantizer needs
// between them: block input norms (the q/k/v and gate/up inputs), the attention core (the o_proj
// input), the SwiGLU activation (the down_proj input) and residual linears. Built on the CPU
// backend's ops (RMSNorm, paged attention, matmul) so it computes what the engine computes.
// Used by the measurement and quantization passes through QuantCompute.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_matrix.h"
#include "model/rope.h"
#include "model/spec.h"
#include "util/thread_pool.h"

namespace nibble::quant {

// A decoder layer's weights as the evaluator reads them. Linears may be fp16 (the source) or fp32
// (dequantized candidates).
struct LayerWeights {
  std::vector<float> attn_norm, mlp_norm;  // [hidden]
  std::vector<float> q_norm, k_norm;       // [head_dim] (Qwen3), else empty
  CpuMatrix q, k, v, o;                    // [q_dim|kv_dim|kv_dim][hidden], [hidden][q_dim]
  CpuMatrix gate, up, down;                // [inter][hidden] x2, [hidden][inter]
  int sliding_window = 0;
};

class LayerEvaluator {
 public:
  LayerEvaluator(const ModelSpec& spec, int length, ThreadPool& pool);

  int length() const { return length_; }

  // out[t] = RMSNorm(x[t]) * norm for `tokens` rows of [hidden].
  void rmsnorm(const float* x, const std::vector<float>& norm, std::int64_t tokens, float* out) const;
  // attn: [seqs * length][q_dim] = attention(q, k, v of normed), normed: [seqs * length][hidden].
  void attention_core(const CpuMatrix& q, const CpuMatrix& k, const CpuMatrix& v, const LayerWeights& norms,
                      const float* normed, int seqs, float* attn) const;
  // act: [tokens][inter] = silu(gate(normed)) * up(normed).
  void swiglu(const CpuMatrix& gate, const CpuMatrix& up, const float* normed, std::int64_t tokens, float* act) const;
  // y = x W^T (+ bias), or y += ... with accumulate; x: [tokens][w.K], y: [tokens][w.N].
  void linear(const CpuMatrix& w, const float* x, std::int64_t tokens, float* y, bool accumulate) const;

 private:
  const ModelSpec& spec_;
  int length_;
  ThreadPool& pool_;
  std::vector<float> cos_, sin_;  // [length][head_dim / 2]
};

// A CpuMatrix holding an fp32 [N][K] weight (and optional bias).
CpuMatrix cpu_matrix_f32(std::vector<float> weight, int N, int K, std::vector<float> bias = {});

}  // namespace nibble::quant
