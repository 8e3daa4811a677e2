// Attention over the paged KV cache (layout: per layer K and V [pages, page_size, kv_heads,
// head_dim] fp16, or q8/q4 codes with per-group fp16 scales dequantized on the fly, kv_cache.h). attention_rows: every query row attends causally to keys [start, pos] of its
// sequence (start > 0 with a sliding window), split along the keys in chunks of 64 with a
// deterministic combine; head dims 64, 128 and 256 run the chunk's products on tensor cores (q and
// the softmax weights rounded to fp16, fp32 sums), others in fp32 FMAs. Implemented in
// attention_rows.cu; used for decode.
#pragma once

#include <cstddef>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "nibble_kernels/kv_cache.h"

namespace nibble::kernels {

struct AttentionArgs {
  const float* q = nullptr;       // [rows, heads * head_dim] fp32, already rotated (row stride ldq)
  int ldq = 0;
  const __half* q16 = nullptr;    // attention_prefill only: fp16 rows instead of q (same stride)
  __half* out = nullptr;          // [rows, heads * head_dim] fp16 (row stride ldo)
  int ldo = 0;
  const __half* k_cache = nullptr;  // kv_type fp16
  const __half* v_cache = nullptr;
  KvType kv_type = KvType::fp16;
  const unsigned char* k_codes = nullptr;  // q8/q4 (kv_cache.h); k_cache/v_cache unused
  const unsigned char* v_codes = nullptr;
  const __half* k_scales = nullptr;
  const __half* v_scales = nullptr;
  int rows = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;               // 64, 80, 96, 128, 192 or 256 (multiple of 16, <= 256)
  int page_size = 0;
  int max_pages = 0;              // columns of block_tables
  const int* positions = nullptr;     // [rows]: the row attends to keys up to this position
  const int* row_seq = nullptr;       // [rows]: sequence of the row
  const int* block_tables = nullptr;  // [seqs, max_pages]
  int window = 0;                 // sliding window in keys (0: none)
  float scale = 1.0f;             // softmax scale (1/sqrt(head_dim) for Llama)
  int max_context = 0;            // upper bound of pos + 1 over rows (sizes the grid)
  float* workspace = nullptr;     // attention_workspace_floats()
  unsigned* counters = nullptr;   // attention_counter_count(), zeroed, left zeroed
};

std::size_t attention_workspace_floats(int rows, int heads, int head_dim, int max_context);
std::size_t attention_counter_count(int rows, int kv_heads);

// Launched with programmatic dependent launch: positions, row_seq, block_tables and the cache rows
// of every position before the first one a sequence has in this call are read before waiting on
// the previous kernel, so they must be in place before that kernel starts (the engine uploads the
// step's metadata ahead of the step; earlier steps wrote those rows). q and the rows of this
// call's own positions may come from the kernel just before.
int attention_rows(const AttentionArgs& args, cudaStream_t stream);

// Tensor-core attention for prompt chunks. tiles: [n_tiles] {row_begin, rows, seq, 0} on the
// device, rows <= attention_prefill_tile_rows(head_dim, kv_type, args.rows, args.heads), each
// tile's rows consecutive rows of one sequence; one block per (tile, head). Head dim 64 or 128
// (attention_prefill_supports), else use attention_rows_serial.
int attention_prefill(const AttentionArgs& args, const int4* tiles, int n_tiles, cudaStream_t stream);
bool attention_prefill_supports(int head_dim);
// Query rows per tile for a call over `rows` rows and `heads` query heads: 128 for head dim 128
// over an fp16 cache on a GPU with shared memory for two such blocks per SM, when the call still
// gives every SM two blocks, else 64. NIBBLE_ATTN_PREFILL_ROWS=64 or 128 forces a size where it is
// supported (tests, A/B runs).
int attention_prefill_tile_rows(int head_dim, KvType type, int rows, int heads);

// Same result for many rows (prefill): one block per (kv head, row) walks all its keys with an
// online softmax; needs no workspace or counters (they may be null).
int attention_rows_serial(const AttentionArgs& args, cudaStream_t stream);

}  // namespace nibble::kernels
