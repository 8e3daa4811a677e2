// One-row decode of a run of Llama-shaped decoder layers in one persistent kernel (sm_90): every
// block stays on its SM for the whole step, a producer warp streams each layer's quantized weights
// (and the KV cache rows of the block's attention share) into a ring of shared-memory stages with
// bulk copies, and eight consumer warps compute from them, meeting the other blocks at grid-wide
// barriers where a phase needs another block's output (q/k/v -> attention -> o -> gate/up -> down).
// Weights never wait on activations, so the weight stream runs through the barriers instead of
// stopping at every kernel boundary. Columns are owned by one block (no split-K): the sums run in
// one fixed order, so a step's result does not depend on timing.
//
// What takes this path (fused_decode_layer_ok): uniform 4-bit quantized linears (GPTQ 4-bit,
// uniform EXL2) without biases, q/k/v and gate/up sharing their input permutation and group size,
// RoPE over the whole head, an fp16 KV cache, head_dim 64 or 128, up to 8 query heads per kv head.
// Everything else (and 2+ rows) takes the per-kernel path. Implemented in decode_fused.cu.
//
// Status: correct (tests/kernels/test_decode_fused.cpp) but not yet faster than the per-kernel
// graph (docs/PERF.md has the phase-by-phase times), so the engine runs it only when asked
// (NIBBLE_FUSED_DECODE=1).
#pragma once

#include <cstddef>
#include <string>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "nibble_kernels/qgemv.h"

namespace nibble::kernels {

// One decoder layer as the fused kernel reads it (an array of these in device memory).
struct FusedLayer {
  QMatrix q, k, v, o, gate, up, down;
  const __half* attn_norm = nullptr;  // [hidden]
  const __half* mlp_norm = nullptr;   // [hidden]
  __half* k_cache = nullptr;          // [pages, page_size, kv_heads, head_dim] fp16
  __half* v_cache = nullptr;
  int window = 0;                     // sliding window in keys (0: none)
};

struct FusedDecodeArgs {
  const FusedLayer* layers = nullptr;  // device array [n_layers]
  int n_layers = 0;
  int hidden = 0;
  int inter = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  float eps = 1e-6f;
  const float* inv_freq = nullptr;  // [head_dim / 2]
  float attn_factor = 1.0f;
  float scale = 1.0f;               // softmax scale
  float* h = nullptr;               // [hidden] fp32 residual stream, read and updated
  float* qkv = nullptr;             // [q_dim + 2 kv_dim] fp32 scratch
  __half* attn = nullptr;           // [q_dim] fp16 scratch
  __half* act = nullptr;            // [inter] fp16 scratch
  const int* positions = nullptr;   // [1] position of the row
  const int* row_seq = nullptr;     // [1] sequence of the row
  const int* block_tables = nullptr;  // [seqs, max_pages]
  int max_pages = 0;
  int page_size = 0;
  float* workspace = nullptr;       // fused_decode_workspace_floats()
  unsigned* counters = nullptr;     // fused_decode_counter_count(); each launch zeroes them first
  // Diagnostics (nullptr normally; 2048 entries, up to 38 layers): block 0 writes %globaltimer (ns)
  // when its consumers start phase p (q/k/v, attention, o, gate/up, down) of a layer at
  // trace[1 + 8 * (5 * layer + p)]; + 3 / + 4 / + 1 when the batch is planned / the input loaded /
  // staged, + 2 when the phase's work is done; trace[0] at the start, trace[1 + 40 * layers] at the
  // end; trace[1536 + 5 * layer + p] when its producer starts the phase.
  unsigned long long* trace = nullptr;
};

// Whether this device can run the fused kernel: compute capability 9.x and a kernel image for it.
bool fused_decode_device_ok(int device);

// Whether a layer (host copy of its descriptor, device pointers inside) fits the fused path;
// `why` receives the first reason it does not. perm_shared_qkv / perm_shared_gu: the caller has
// checked that q, k and v (gate and up) permute their input the same way.
bool fused_decode_layer_ok(const FusedLayer& layer, int hidden, int inter, int heads, int kv_heads, int head_dim,
                           bool perm_shared_qkv, bool perm_shared_gu, std::string* why);

std::size_t fused_decode_workspace_floats(int heads, int kv_heads, int head_dim, int sm_count);
std::size_t fused_decode_counter_count(int kv_heads);

// Dynamic shared memory the kernel takes for these sizes (0: they do not fit).
std::size_t fused_decode_smem_bytes(int hidden, int inter, int heads, int kv_heads, int head_dim);

// Zeroes the counters and launches one block per SM (cooperative launch: all blocks resident).
int fused_decode(const FusedDecodeArgs& args, int sm_count, cudaStream_t stream);

}  // namespace nibble::kernels
