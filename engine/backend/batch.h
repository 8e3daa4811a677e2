// BatchPlan: one forward step over several sequences (prefill chunks and decode tokens mixed),
// with the paged KV layout every backend shares. Built by the runtime (or a simple driver),
// read by backends. Plain data, no ownership of the arrays it points to.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace nibble {

// KV cache layout (all backends): per layer, K and V each [n_pages, page_size, n_kv_heads, head_dim],
// row-major. A sequence's position p lives in page pages[p / page_size], slot p % page_size.
struct SeqEntry {
  std::int32_t token_begin = 0;  // first row of this sequence in BatchPlan::tokens
  std::int32_t n_tokens = 0;     // rows this step (prompt chunk length, or 1 for decode)
  std::int32_t pos_begin = 0;    // tokens already in the cache for this sequence (= position of first row)
  std::span<const std::int32_t> pages;  // block table: page ids covering [0, pos_begin + n_tokens)
};

struct BatchPlan {
  std::span<const std::int32_t> tokens;     // [T] token ids, sequences concatenated
  std::span<const std::int32_t> positions;  // [T] absolute position of each row
  std::vector<SeqEntry> seqs;               // in row order; rows of one sequence are contiguous
  std::span<const std::int32_t> logit_rows; // rows whose logits the caller wants, in output order
  std::int32_t page_size = 0;

  std::int32_t n_rows() const { return static_cast<std::int32_t>(tokens.size()); }
};

}  // namespace nibble
