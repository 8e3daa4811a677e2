// Sampler: penalty, then temperature, softmax over the candidates that survive top-k, then top-p
// and min-p, then one draw. Candidates are read in order of probability (id breaks ties) so the
// result for a given seed does not depend on the order the standard library visits them; they are
// sorted only as far as they are read.
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

  // Candidates in order of probability, sorted only as far as they are read: top-k sorts its k;
  // otherwise the sorted prefix widens (four times, or at once to the end when that is near)
  // until top-p / min-p / the draw stop reading, so a 128k vocabulary is not sorted whole for a
  // nucleus of a few hundred tokens. Every prefix read equals the full sort's, so the draw is the
  // full sort's.
  const std::size_t vocab_n = m_candidates.size();
  std::size_t count = vocab_n, sorted = 0;
  double total = 0;
  if (m_settings.topK > 0 && m_settings.topK < vocab) {
    count = static_cast<std::size_t>(m_settings.topK);
    std::partial_sort(m_candidates.begin(), m_candidates.begin() + static_cast<std::ptrdiff_t>(count), m_candidates.end(), before);
    sorted = count;
    for (std::size_t i = 0; i < count; ++i) total += m_candidates[i].first;
  } else {
    for (const auto& c : m_candidates) total += c.first;  // in id order
  }
  auto sorted_to = [&](std::size_t n) {  // m_candidates[0, n) in final order
    if (n <= sorted) return;
    std::size_t w = std::max({n, 4 * sorted, std::size_t{64}});
    if (16 * w > count) w = count;  // a large nucleus: sort the rest once
    w = std::min(w, count);
    // [0, sorted) already holds the largest in order: sort the next largest after them.
    std::partial_sort(m_candidates.begin() + static_cast<std::ptrdiff_t>(sorted), m_candidates.begin() + static_cast<std::ptrdiff_t>(w),
                      m_candidates.end(), before);
    sorted = w;
  };

  // Min-p: tokens below minP times the most likely one's probability (1 before normalisation)
  // go; counted without sorting, they bound how far top-p has to look.
  std::size_t cap = count;
  if (m_settings.minP > 0) {
    const double floor = m_settings.minP;  // the best candidate's exp(0)
    cap = 0;
    for (std::size_t i = 0; i < vocab_n; ++i) cap += m_candidates[i].first >= floor ? 1 : 0;
    cap = std::clamp<std::size_t>(cap, 1, count);
  }
  // Top-p: the smallest prefix whose mass reaches topP (at least one token); all of them at 1.
  std::size_t kept = cap;
  double mass = total;
  if (m_settings.topP < 1.0 || cap < count) {
    kept = 0;
    mass = 0;
    while (kept < cap && (kept == 0 || m_settings.topP >= 1.0 || mass < m_settings.topP * total)) {
      sorted_to(kept + 1);
      mass += m_candidates[kept++].first;
    }
  }

  std::uniform_real_distribution<double> uniform(0.0, mass);
  double u = uniform(m_rng);
  for (std::size_t i = 0; i < kept; ++i) {
    sorted_to(i + 1);
    u -= m_candidates[i].first;
    if (u <= 0) return m_candidates[i].second;
  }
  sorted_to(kept);
  return m_candidates[kept - 1].second;
}
