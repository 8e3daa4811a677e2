// The quantizer's search space: how one linear's rows (along the act-order permuted K) split into
// groups of bit widths (LinearMix), the exact stored size of such a layout, and the candidate table
// of whole attention / MLP blocks that the measurement scores. No math on weights. Used by the
// measurement, the allocation, the head choice and tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nibble/error.h"

namespace nibble::quant {

// Rows of K in groups of `group`, split by fraction into widths: parts[0] (the widest) covers the
// most important rows. Widths are non-increasing.
struct LinearMix {
  std::string name;   // "4:25/3 g32": 25% of the groups at 4 bits, the rest at 3, groups of 32 rows
  int group = 32;
  std::vector<int> bits;         // non-increasing, each in {2, 3, 4, 5, 6, 8}
  std::vector<double> fraction;  // same length, sums to 1
};

// One linear's groups along the permuted K.
struct GroupLayout {
  std::vector<int> bits;  // [G] non-increasing
  std::vector<int> rows;  // [G] rows per group, sum K
};

// Groups of `mix.group` rows (the last one shorter when K is not a multiple); part i gets the groups
// up to round(G * cumulative fraction). invalid_argument when K is not a positive multiple of 32.
Result<GroupLayout> mix_layout(const LinearMix& mix, int K);

// Stored bits of an EXL2 linear with this layout: q_weight + q_scale (4 bits per group and output)
// + q_scale_max (16 per group) + q_groups (32 per group) + q_invperm (32 per input row).
std::int64_t layout_bits(const GroupLayout& layout, int K, int N);

// The mixes the candidates are built from, by increasing nominal width (index = level).
const std::vector<LinearMix>& linear_mixes();
int mix_index(const std::string& name);  // -1 when unknown

enum class BlockKind { attn, mlp };
const char* block_kind_name(BlockKind kind);  // "attn", "mlp"
int block_linear_count(BlockKind kind);       // 4 (q, k, v, o) or 3 (gate, up, down)
const char* block_linear_suffix(BlockKind kind, int i);  // "self_attn.q_proj", ..., "mlp.down_proj"

// One choice for a whole block: a mix per linear (indices into linear_mixes()).
struct BlockCandidate {
  std::string name;        // "q4 k4 v5 o5" style: unique within its kind
  std::vector<int> mixes;  // [block_linear_count(kind)]
};

// The candidate table for a block kind: uniform levels, plus variants that give v/o (attention)
// or down (MLP) more bits than the rest, and attention variants that give q/k fewer.
const std::vector<BlockCandidate>& block_candidates(BlockKind kind);

// Head mixes for a head width: every mix whose widest part is `head_bits` and whose widths are
// head_bits or one step down, plus the uniform mix; the head choice measures them.
std::vector<int> head_mixes(int head_bits);

}  // namespace nibble::quant
