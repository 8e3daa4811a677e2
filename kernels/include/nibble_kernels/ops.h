// Small per-token operations of the forward pass: embedding gather, RMSNorm, per-head q/k norm,
// RoPE with KV-cache append, SiLU-gated product, residual add and row gathers. Raw device
// pointers and a stream; every function returns 0 or a cudaError_t value. Implemented in
// embed_norm.cu, rope_kv.cu and elementwise.cu.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "nibble_kernels/dgemv.h"
#include "nibble_kernels/kv_cache.h"

namespace nibble::kernels {

// out[r, :] = table[ids[r], :] as fp32. table: [vocab, hidden] fp16/bf16; ids outside
// [0, vocab) produce zero rows (the host validates ids before they reach the device).
int embed_rows(const void* table, WeightType type, int vocab, int hidden, const int* ids, int rows, float* out,
               cudaStream_t stream);

// out[r, :] = x[r, :] * rsqrt(mean(x[r, :]^2) + eps) * w   (x fp32 [rows, n]; out fp16, row stride ldo)
int rms_norm_f16(const float* x, int ldx, const __half* w, float eps, int rows, int n, __half* out, int ldo,
                 cudaStream_t stream);

// Per-head RMSNorm in place (Qwen3 q/k norm): x [rows, heads, head_dim] fp32 with row stride ldx.
int head_rms_norm(float* x, int ldx, int heads, int head_dim, const __half* w, float eps, int rows,
                  cudaStream_t stream);

// KV cache layout shared with the engine: per layer K and V each [pages, page_size, kv_heads, head_dim]
// (fp16), or q8/q4 codes with per-group fp16 scales (kv_cache.h).

struct RopeKvArgs {
  float* q = nullptr;            // [rows, heads * head_dim] fp32, rotated in place (row stride ldq)
  const float* k = nullptr;      // [rows, kv_heads * head_dim] fp32 (row stride ldk)
  const float* v = nullptr;      // [rows, kv_heads * head_dim] fp32 (row stride ldv)
  int ldq = 0, ldk = 0, ldv = 0;
  int rows = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;              // even, <= 256
  int rotary_dim = 0;            // rotated leading dims of each head (== head_dim for Llama)
  const float* inv_freq = nullptr;  // [rotary_dim / 2]
  float attn_factor = 1.0f;      // cos/sin scale (YaRN), 1 otherwise
  const int* positions = nullptr;   // [rows]
  const int* row_seq = nullptr;     // [rows] sequence index of each row
  const int* block_tables = nullptr;  // [seqs, max_pages] page ids
  int max_pages = 0;
  int page_size = 0;
  __half* k_cache = nullptr;     // [pages, page_size, kv_heads, head_dim] (kv_type fp16)
  __half* v_cache = nullptr;
  KvType kv_type = KvType::fp16;
  unsigned char* k_codes = nullptr;  // q8/q4: codes and fp16 group scales (kv_cache.h); k_cache unused
  unsigned char* v_codes = nullptr;
  __half* k_scales = nullptr;
  __half* v_scales = nullptr;
  // Prompt rows held as fp16 instead (q16, k16, v16 set and q, k, v null; same strides): q16 is
  // rotated in place as fp16. fp16 cache, rotary_dim % 8 == 0, head_dim % 4 == 0, strides % 4 == 0
  // and 8-byte aligned rows only.
  __half* q16 = nullptr;
  const __half* k16 = nullptr;
  const __half* v16 = nullptr;
};

// Rotates q and k (HF rotate_half convention), then writes k and v rows into their cache slots
// (quantized per group for a q8/q4 cache: head_dim must pass kv_quant_supports).
int rope_kv_append(const RopeKvArgs& args, cudaStream_t stream);

// out[r, i] = silu(a[r, i] + bias_a[i]) * (b[r, i] + bias_b[i]) as fp16 (a, b fp16 with row strides;
// either bias may be null).
int silu_mul_f16(const __half* a, int lda, const __half* b, int ldb, const __half* bias_a, const __half* bias_b,
                 int rows, int n, __half* out, int ldo, cudaStream_t stream);

// dst[r, :] = src[index[r], :] for fp32 rows of width n.
int gather_rows_f32(const float* src, int lds, const int* index, int rows, int n, float* dst, int ldd,
                    cudaStream_t stream);

// dst[r, c * width + j] = src[c][r][j]: `chunks` blocks of [rows, width] (an all-gather's rank-major
// result) side by side as rows of chunks * width (row stride ldd).
int interleave_chunks_f16(const __half* src, int chunks, int rows, int width, __half* dst, int ldd, cudaStream_t stream);

// out[r, i] += bias[i] (fp32 rows, fp16 bias).
int add_bias_f32(float* out, int ldo, int rows, int n, const __half* bias, cudaStream_t stream);

// Converts fp32 to fp16 (n elements).
int f32_to_f16(const float* src, __half* dst, long n, cudaStream_t stream);

}  // namespace nibble::kernels
