// Sampler: penalty, then temperature, softmax over the candidates that survive top-k, then top-p
// and min-p, then one draw. Candidates are kept sorted by probability (id breaks ties) so the
// result for a given seed does not depend on the order the standard library visits them.
#include "Sampler.h"

#include <algorithm>
#include <cmath>

namespace {

std::int32_t argmax(std::span<const float> logits) {
  return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

bool before(const std::pair<float, std::int32_t>& a, const std::pair<float, std::int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

Sampler::Sampler(const SamplerSettings& settings) : m_settings(settings) {
  m_settings.temperature = std::max(0.0, m_settings.temperature);
  m_settings.topK = std::max(0, m_settings.topK);
  if (!(m_settings.topP > 0.0 && m_settings.topP <= 1.0)) m_settings.topP = 1.0;
  m_settings.minP = std::clamp(m_settings.minP, 0.0, 0.999);
  m_settings.repetitionPenalty = std::max(1.0, m_settings.repetitionPenalty);
  m_settings.repetitionWindow = std::max(0, m_settings.repetitionWindow);
  m_rng.seed(m_settings.seed != 0 ? m_settings.seed : std::random_device{}());
}

std::int32_t Sampler::sample(std::span<const float> logits, std::span<const std::int32_t> recent) {
  if (logits.empty()) return 0;
  const auto vocab = static_cast<std::int32_t>(logits.size());
  std::span<const float> scores = logits;
  if (m_settings.repetitionPenalty > 1.0 && !recent.empty()) {
    m_work.assign(logits.begin(), logits.end());
    const std::size_t window = std::min(recent.size(), static_cast<std::size_t>(m_settings.repetitionWindow));
    const auto penalty = static_cast<float>(m_settings.repetitionPenalty);
    // Each distinct token once, as HF's RepetitionPenaltyLogitsProcessor (a gather, then a scatter).
    std::vector<std::int32_t> seen(recent.end() - static_cast<std::ptrdiff_t>(window), recent.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (const std::int32_t id : seen) {
      if (id < 0 || id >= vocab) continue;
      float& s = m_work[static_cast<std::size_t>(id)];
      s = s > 0 ? s / penalty : s * penalty;
    }
    scores = m_work;
  }
  if (m_settings.temperature <= 0.0) return argmax(scores);

  const float best = *std::max_element(scores.begin(), scores.end());
  const double invT = 1.0 / m_settings.temperature;
  m_candidates.resize(scores.size());
  for (std::int32_t i = 0; i < vocab; ++i)
    m_candidates[static_cast<std::size_t>(i)] = {
        static_cast<float>(std::exp((static_cast<double>(scores[static_cast<std::size_t>(i)]) - best) * invT)), i};

  // Top-k first (a partial sort), otherwise the whole vocabulary sorted once.
  auto end = m_candidates.end();
  if (m_settings.topK > 0 && m_settings.topK < vocab) {
    end = m_candidates.begin() + m_settings.topK;
    std::partial_sort(m_candidates.begin(), end, m_candidates.end(), before);
  } else {
    std::sort(m_candidates.begin(), m_candidates.end(), before);
  }
  double total = 0;
  for (auto it = m_candidates.begin(); it != end; ++it) total += it->first;

  // Top-p: the smallest prefix whose mass reaches topP (at least one token).
  std::size_t kept = 0;
  double mass = 0;
  const auto count = static_cast<std::size_t>(end - m_candidates.begin());
  while (kept < count && (kept == 0 || mass < m_settings.topP * total)) mass += m_candidates[kept++].first;
  // Min-p: relative to the most likely token (probability 1 before normalisation).
  if (m_settings.minP > 0) {
    const double floor = m_settings.minP * m_candidates[0].first;
    std::size_t n = 1;
    double m = m_candidates[0].first;
    while (n < kept && m_candidates[n].first >= floor) m += m_candidates[n++].first;
    kept = n;
    mass = m;
  }

  std::uniform_real_distribution<double> uniform(0.0, mass);
  double u = uniform(m_rng);
  for (std::size_t i = 0; i < kept; ++i) {
    u -= m_candidates[i].first;
    if (u <= 0) return m_candidates[i].second;
  }
  return m_candidates[kept - 1].second;
}
