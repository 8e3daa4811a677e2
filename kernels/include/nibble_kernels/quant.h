// The quantizer's device math (the CUDA QuantCompute in engine/backend/cuda calls these between
// its cuBLAS/cuSOLVER calls): the GPTQ column loop for EXL2 (weight staging, per-group scale
// search, quantization with in-block error feedback, unstaging), Hessian preparation helpers, and
// the fp32 pieces of a decoder layer over calibration rows (RMSNorm, SwiGLU, bias, q/k norm and
// RoPE, causal attention). fp32 unless named; raw device pointers and a stream; every function
// returns 0 or a cudaError_t value. Implemented in quant.cu. The arithmetic follows the CPU
// reference (engine/quant: gptq.cpp, scale_search.cpp, layer_eval.cpp) operation by operation.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace nibble::kernels {

// ---- GPTQ -------------------------------------------------------------------------------------

// wt[k][n] = dead[perm[k]] ? 0 : w[n][perm[k]]; w: [N][K]; wt: [K][N].
int quant_stage_weight(const float* w, int N, int K, const std::int32_t* perm, const std::uint8_t* dead, float* wt,
                       cudaStream_t stream);
// out[n][perm[k]] = deq[k][n]; deq: [K][N]; out: [N][K].
int quant_unstage_weight(const float* deq, int N, int K, const std::int32_t* perm, float* out, cudaStream_t stream);
// imp[k] = 1 / U[k][k]^2 (U: [K][K] row-major).
int quant_importance(const float* U, int K, float* imp, cudaStream_t stream);

// Scratch of quant_group_search for N outputs: sized by quant_group_scratch_bytes(N).
std::size_t quant_group_scratch_bytes(int N);

// One group's scales (scale_search.cpp): wt holds the group's `rows` rows ([rows][N], row stride N),
// imp its rows' importance. Writes scale[n] (fp32), code[n] (4-bit scale code) and *smax (fp16 bits).
int quant_group_search(const float* wt, int rows, int N, const float* imp, int bits, void* scratch, float* scale,
                       std::uint8_t* code, std::uint16_t* smax, cudaStream_t stream);

struct QuantGroupArgs {
  float* wt = nullptr;           // [K][N] current (error-fed) weights, permuted rows
  const float* U = nullptr;      // [K][K] row-major upper factor of H^-1
  int N = 0, K = 0;
  int k0 = 0, rows = 0, bits = 0;  // the group: rows k0 .. k0 + rows - 1
  int block_end = 0;             // rows k0 + rows .. block_end - 1 get the in-block error feedback
  int block_begin = 0;           // err row r holds row block_begin + r
  const float* scale = nullptr;  // [N] from quant_group_search
  const std::uint8_t* code = nullptr;
  const std::uint16_t* smax = nullptr;
  std::uint8_t* codes = nullptr;  // [K][N] out
  float* deq = nullptr;           // [K][N] out: the value a loader computes
  float* err = nullptr;           // [block rows][N] out: (w - q) / U[k][k]
  double* loss = nullptr;         // [N] accumulated (w - q)^2 / U[k][k]^2
};
// Quantizes the group's rows in order, feeding each row's error to the later rows of the block.
int quant_group_apply(const QuantGroupArgs& a, cudaStream_t stream);

// ---- Hessian ----------------------------------------------------------------------------------

// out[r][k] = x[r][k] as double for r < rows, k < K (x row stride ldx, out row stride K).
int quant_widen_f64(const float* x, std::int64_t rows, int K, int ldx, double* out, cudaStream_t stream);
// fp16 (bf16 when `bf16`) bits to fp32, n values.
int quant_widen_half(const std::uint16_t* src, std::int64_t n, bool bf16, float* dst, cudaStream_t stream);
// The matrix GPTQ factorizes, reversed in both indices so that a lower Cholesky factor of the result
// gives the upper factor of H^-1 by one triangular inverse: b[i][j] = a[K-1-i][K-1-j] with
// a[i][j] = H[perm[i]][perm[j]] (0 when either input is dead) and a[i][i] = diag[perm[i]] + damp.
// H: symmetric, lower triangle valid in column-major order (what DSYRK writes).
int quant_hessian_reversed(const double* H, int K, const std::int32_t* perm, const std::uint8_t* dead,
                           const double* diag, double damp, double* b, cudaStream_t stream);
// I = the K x K identity.
int quant_identity_f64(double* I, int K, cudaStream_t stream);
// U[i][j] = i <= j ? Linv(K-1-i, K-1-j) : 0 as fp32 row-major, Linv column-major lower.
int quant_upper_from_reversed(const double* Linv, int K, float* U, cudaStream_t stream);

// *out = sum over i < n of (a[i] - b[i])^2 (b null: a[i]^2) in double (fixed-order reduction;
// `partial` holds quant_distance_parts() doubles).
int quant_distance_parts();
// out[i] = a[i] - b[i].
int quant_subtract(const float* a, const float* b, std::int64_t n, float* out, cudaStream_t stream);
int quant_squared_distance(const float* a, const float* b, std::int64_t n, double* partial, double* out, cudaStream_t stream);

// ---- Decoder layer pieces -----------------------------------------------------------------------

// out[r] = w * (x[r] / sqrt(mean(x[r]^2) + eps)) (sum of squares in double, as the CPU backend).
int quant_rmsnorm(const float* x, const float* w, std::int64_t rows, int n, float eps, float* out, cudaStream_t stream);
// y[r][i] += bias[i] for i < n (row stride ldy).
int quant_add_bias(float* y, int ldy, std::int64_t rows, int n, const float* bias, cudaStream_t stream);
// act[r][i] = silu(gu[r][i]) * gu[r][n + i].
int quant_swiglu(const float* gu, std::int64_t rows, int n, float* act, cudaStream_t stream);

struct QuantAttentionArgs {
  float* qkv = nullptr;       // [seqs * length][ld]: q heads, then k heads, then v heads
  int ld = 0;
  int seqs = 0, length = 0;
  int heads = 0, kv_heads = 0, head_dim = 0;  // head_dim even, <= 256
  const float* cos = nullptr;  // [length][head_dim / 2]
  const float* sin = nullptr;
  const float* q_norm = nullptr;  // [head_dim] per-head RMSNorm of q and k (Qwen3), or null
  const float* k_norm = nullptr;
  float eps = 0;
  int sliding_window = 0;      // > 0: a query attends to the last `sliding_window` positions
  float scale = 1;
  float* out = nullptr;        // [seqs * length][heads * head_dim]
};
// Per-head norm and RoPE in place on q and k, then causal attention of every row over its own
// sequence (positions 0 .. length - 1), grouped-query.
int quant_attention(const QuantAttentionArgs& a, cudaStream_t stream);

}  // namespace nibble::kernels
