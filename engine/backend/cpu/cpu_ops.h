// Row-wise fp32 operations of the decoder layer on the CPU: RMSNorm, SwiGLU activation and paged
// causal attention (GQA, optional sliding window). No weights of their own (callers pass them).
// Used by the CPU segment.
#pragma once

#include <cstdint>
#include <span>

#include "backend/batch.h"
#include "util/thread_pool.h"

namespace nibble {

// out[i] = w[i] * (x[i] / sqrt(mean(x^2) + eps)), as transformers' RMSNorm in fp32 (the mean is
// accumulated in double). x, out: [n]; may alias.
void cpu_rmsnorm(const float* x, const float* w, float* out, int n, float eps);

// gu: [rows][2 * n] (gate | up) -> act: [rows][n], act = silu(gate) * up.
void cpu_swiglu(const float* gu, float* act, int rows, int n);

// One layer's paged KV pool: K and V each [n_pages, page_size, n_kv_heads, head_dim] fp32.
struct CpuKvLayer {
  float* k = nullptr;
  float* v = nullptr;
};

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int page_size = 0;
  int sliding_window = 0;  // 0: full causal; W: row at position p sees keys at positions > p - W
  float scale = 1.0f;      // softmax scale (head_dim^-0.5)
};

// Writes this step's k/v rows into the pages of each sequence, then computes
// out[row] = softmax(q k^T * scale) v over positions [window start, p] for every row.
// qkv: [rows][ld_qkv] with q at column 0, k at n_heads * head_dim, v after k; out: [rows][n_heads * head_dim].
void cpu_attention(const BatchPlan& plan, const AttentionShape& s, CpuKvLayer kv, const float* qkv, int ld_qkv,
                   float* out, ThreadPool& pool);

}  // namespace nibble
