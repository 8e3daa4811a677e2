// n-gram drafting and draft-token verification.
#include "runtime/speculative.h"

#include <algorithm>
#include <vector>

namespace nibble {

std::vector<std::int32_t> ngram_propose(std::span<const std::int32_t> t, int n_min, int n_max, int k) {
  const std::size_t len = t.size();
  for (int n = std::max(n_max, 1); n >= std::max(n_min, 1) && k > 0; --n) {
    const auto un = static_cast<std::size_t>(n);
    if (len < un + 1) continue;
    const auto suffix = t.subspan(len - un);
    // Most recent earlier occurrence: start i with i + n < len (so at least one token follows).
    for (std::size_t i = len - un; i-- > 0;) {
      if (!std::equal(suffix.begin(), suffix.end(), t.begin() + static_cast<std::ptrdiff_t>(i))) continue;
      const std::size_t from = i + un;
      const std::size_t to = std::min(len, from + static_cast<std::size_t>(k));
      return std::vector<std::int32_t>(t.begin() + static_cast<std::ptrdiff_t>(from), t.begin() + static_cast<std::ptrdiff_t>(to));
    }
  }
  return {};
}

DraftVerdict verify_draft_token(std::span<const float> p, std::span<const float> q, std::int32_t draft, bool greedy,
                                SamplerRng& rng) {
  const auto d = static_cast<std::size_t>(draft);
  if (greedy) {
    const auto best = static_cast<std::int32_t>(std::max_element(p.begin(), p.end()) - p.begin());
    return {best == draft, best};
  }
  const double pd = d < p.size() ? p[d] : 0.0;
  const double qd = q.empty() ? 1.0 : (d < q.size() ? q[d] : 0.0);
  const double u = rng.uniform();
  if (qd > 0.0 && u * qd < pd) return {true, draft};
  std::vector<float> residual(p.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double qi = q.empty() ? (i == d ? 1.0 : 0.0) : q[i];
    residual[i] = static_cast<float>(std::max(0.0, static_cast<double>(p[i]) - qi));
    sum += residual[i];
  }
  if (sum <= 0.0) return {false, Sampler::draw(p, rng.uniform())};
  return {false, Sampler::draw(residual, rng.uniform())};
}

}  // namespace nibble
