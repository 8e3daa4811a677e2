// Bit allocation: one candidate per block so that the summed measured error is smallest while the
// stored bits of all decoder linears stay within target_bpw x weights (a multiple-choice knapsack,
// solved exactly by dynamic programming over a fine bit grid). Pure; used by the orchestration and tests.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/measure.h"

namespace nibble::quant {

struct Allocation {
  std::vector<int> choice;   // [blocks] index into that block's scores
  std::int64_t bits = 0;     // stored bits chosen
  std::int64_t weights = 0;  // weights over all blocks
  double error = 0;          // summed error of the choice
  double bpw() const { return weights > 0 ? static_cast<double>(bits) / static_cast<double>(weights) : 0.0; }
};

// invalid_argument when even the smallest candidates exceed the budget (names the lowest bpw
// reachable) or a block has no scores.
Result<Allocation> allocate_bits(const std::vector<BlockMeasurement>& blocks, double target_bpw);

}  // namespace nibble::quant
