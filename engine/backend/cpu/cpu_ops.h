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

// One layer's paged KV pool: K and V each [n_pages, page_size, n_kv_heads, head_dim] (a "row" is
// one head_dim vector of one position and head). fp32: k/v hold the values. q8: kq/vq hold int8
// [rows][head_dim] with one fp32 scale per group of kKvGroup values (ks/vs [rows][head_dim / group]),
// symmetric. q4: kq/vq hold [rows][head_dim / 2] bytes, two 4-bit codes each (low nibble first),
// with (scale, min) per group (ks/vs [rows][head_dim / group][2]): x ~ min + code * scale.
inline constexpr int kKvGroup = 32;
struct CpuKvLayer {
  float* k = nullptr;
  float* v = nullptr;
  std::uint8_t* kq = nullptr;
  std::uint8_t* vq = nullptr;
  float* ks = nullptr;
  float* vs = nullptr;
  int bits = 32;    // 32, 8 or 4
  int group = kKvGroup;  // head_dim when head_dim is not a multiple of kKvGroup
};

// Quantizes one row of n values into row `r` of a q8/q4 pool; dequantizes it back.
void kv_store_row(std::uint8_t* q, float* scales, int bits, int group, std::size_t r, const float* x, int n);
void kv_load_row(const std::uint8_t* q, const float* scales, int bits, int group, std::size_t r, float* x, int n);

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
