// Exact multiple-choice knapsack over a grid of kUnits steps of the budget. Costs are rounded up to
// whole steps, so the chosen bits never exceed the budget; the grid loses at most one step per
// block (1/20000 of the budget each), far below the spacing of the candidates.
#include "quant/allocate.h"

#include <cmath>
#include <limits>

namespace nibble::quant {
namespace {

constexpr std::int64_t kUnits = 20000;

}  // namespace

Result<Allocation> allocate_bits(const std::vector<BlockMeasurement>& blocks, double target_bpw) {
  Allocation out;
  std::int64_t min_bits = 0;
  for (const auto& b : blocks) {
    if (b.scores.empty())
      return make_error(ErrorKind::invalid_argument, "allocation: layer ", b.layer, " ", block_kind_name(b.kind), " has no candidates");
    out.weights += b.weights;
    std::int64_t lo = std::numeric_limits<std::int64_t>::max();
    for (const auto& s : b.scores) lo = std::min(lo, s.bits);
    min_bits += lo;
  }
  const double budget = target_bpw * static_cast<double>(out.weights);
  if (static_cast<double>(min_bits) > budget)
    return make_error(ErrorKind::invalid_argument, "--bpw ", target_bpw, " is below the smallest layout for this model (",
                      static_cast<double>(min_bits) / static_cast<double>(out.weights), " bpw)");
  const double unit = budget / static_cast<double>(kUnits);
  const std::size_t U = static_cast<std::size_t>(kUnits) + 1;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> best(U, kInf), next(U);
  best[0] = 0.0;
  std::vector<std::vector<std::int16_t>> pick(blocks.size(), std::vector<std::int16_t>(U, -1));
  for (std::size_t bi = 0; bi < blocks.size(); ++bi) {
    std::fill(next.begin(), next.end(), kInf);
    const auto& scores = blocks[bi].scores;
    for (std::size_t c = 0; c < scores.size(); ++c) {
      const double units = std::ceil(static_cast<double>(scores[c].bits) / unit);
      if (units >= static_cast<double>(U)) continue;
      const std::size_t cost = static_cast<std::size_t>(units);
      const double err = scores[c].error;
      for (std::size_t u = cost; u < U; ++u) {
        const double v = best[u - cost] + err;
        if (v < next[u]) {
          next[u] = v;
          pick[bi][u] = static_cast<std::int16_t>(c);
        }
      }
    }
    best.swap(next);
  }
  std::size_t at = 0;
  for (std::size_t u = 1; u < U; ++u)
    if (best[u] < best[at]) at = u;
  if (!std::isfinite(best[at]))
    return make_error(ErrorKind::invalid_argument, "--bpw ", target_bpw, " cannot be met with the measured candidates");
  out.error = best[at];
  out.choice.assign(blocks.size(), 0);
  for (std::size_t bi = blocks.size(); bi-- > 0;) {
    const int c = pick[bi][at];
    out.choice[bi] = c;
    out.bits += blocks[bi].scores[static_cast<std::size_t>(c)].bits;
    at -= static_cast<std::size_t>(std::ceil(static_cast<double>(blocks[bi].scores[static_cast<std::size_t>(c)].bits) / unit));
  }
  return out;
}

}  // namespace nibble::quant
