// generate(): prefill + decode over one Sequence, greedy or temperature/top-p sampling.
// The runtime's sampler and generator (batched, streaming) will supersede this simple loop.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "nibble/model.h"

namespace nibble {
namespace {

std::int32_t argmax(const std::vector<float>& logits) {
  return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::int32_t sample(const std::vector<float>& logits, float temperature, float top_p, std::mt19937_64& rng) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  std::vector<std::pair<double, std::int32_t>> probs(logits.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const double p = std::exp(static_cast<double>(logits[i] - mx) / temperature);
    probs[i] = {p, static_cast<std::int32_t>(i)};
    sum += p;
  }
  std::sort(probs.begin(), probs.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  double kept = 0.0;
  std::size_t n = 0;
  while (n < probs.size() && (n == 0 || kept < top_p * sum)) kept += probs[n++].first;
  std::uniform_real_distribution<double> uni(0.0, kept);
  double u = uni(rng);
  for (std::size_t i = 0; i < n; ++i) {
    u -= probs[i].first;
    if (u <= 0.0) return probs[i].second;
  }
  return probs[n - 1].second;
}

}  // namespace

Result<std::vector<std::int32_t>> generate(Model& model, std::span<const std::int32_t> prompt,
                                           const GenerateOptions& o) {
  if (prompt.empty()) return make_error(ErrorKind::invalid_argument, "generate: empty prompt");
  if (o.max_tokens < 0) return make_error(ErrorKind::invalid_argument, "generate: max_tokens must be >= 0");
  if (o.temperature < 0.0f || !(o.top_p > 0.0f && o.top_p <= 1.0f))
    return make_error(ErrorKind::invalid_argument, "generate: temperature must be >= 0 and top_p in (0, 1]");
  auto seq = model.new_sequence();
  std::vector<float> logits;
  NIBBLE_TRY(seq->append(prompt, false, logits));
  std::mt19937_64 rng(o.seed);
  std::vector<std::int32_t> out;
  const auto& stops = model.stop_ids();
  while (static_cast<int>(out.size()) < o.max_tokens) {
    const std::int32_t tok = o.temperature == 0.0f ? argmax(logits) : sample(logits, o.temperature, o.top_p, rng);
    out.push_back(tok);
    if (o.on_token && !o.on_token(tok)) break;
    if (o.stop_at_eos && std::find(stops.begin(), stops.end(), tok) != stops.end()) break;
    if (static_cast<int>(out.size()) == o.max_tokens) break;
    NIBBLE_TRY(seq->append(std::span<const std::int32_t>(&tok, 1), false, logits));
  }
  return out;
}

}  // namespace nibble
