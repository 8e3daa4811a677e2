// The CPU sampler: logit processors (ban/bias, penalties, DRY), temperature, truncation (top-k,
// top-p, min-p, typical-p), XTC and the final Gumbel-max draw (the GPU kernels' rule and stream). Probabilities are computed in double and
// renormalised after every truncation step, which equals HF's "softmax of the masked logits".
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "nibble/runtime.h"
#include "nibble_kernels/rng.h"

namespace nibble {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Tokens the penalties look at: the last `range` of the allowed part of the context.
std::span<const std::int32_t> penalty_window(const SamplerSettings& s, const SamplerContext& ctx) {
  std::size_t begin = s.penalize_prompt ? 0 : std::min<std::size_t>(static_cast<std::size_t>(std::max(ctx.prompt_tokens, 0)), ctx.tokens.size());
  if (s.penalty_range > 0 && ctx.tokens.size() - begin > static_cast<std::size_t>(s.penalty_range))
    begin = ctx.tokens.size() - static_cast<std::size_t>(s.penalty_range);
  return ctx.tokens.subspan(begin);
}

// DRY (text-generation-webui's formulation): for each earlier occurrence of the last token, the
// length of the repeated run ending there; the token that followed it gets
// multiplier * base^(length - allowed_length) subtracted when length >= allowed_length.
void apply_dry(const SamplerSettings& s, std::span<const std::int32_t> all, std::vector<float>& logits) {
  std::span<const std::int32_t> t = all;
  if (s.dry_range > 0 && t.size() > static_cast<std::size_t>(s.dry_range)) t = t.subspan(t.size() - static_cast<std::size_t>(s.dry_range));
  if (t.size() < 2) return;
  auto is_breaker = [&](std::int32_t id) {
    return std::find(s.dry_sequence_breakers.begin(), s.dry_sequence_breakers.end(), id) != s.dry_sequence_breakers.end();
  };
  const std::size_t n = t.size();
  const std::int32_t last = t[n - 1];
  if (is_breaker(last)) return;
  std::unordered_map<std::int32_t, std::size_t> longest;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (t[i] != last) continue;
    const std::int32_t next = t[i + 1];
    if (is_breaker(next)) continue;
    std::size_t len = 1;
    while (len <= i) {
      const std::int32_t a = t[i - len];
      if (is_breaker(a) || a != t[n - 1 - len]) break;
      ++len;
    }
    auto [it, fresh] = longest.emplace(next, len);
    if (!fresh) it->second = std::max(it->second, len);
  }
  for (const auto& [id, len] : longest) {
    if (len < static_cast<std::size_t>(s.dry_allowed_length) || id < 0 || static_cast<std::size_t>(id) >= logits.size()) continue;
    logits[static_cast<std::size_t>(id)] -= s.dry_multiplier * std::pow(s.dry_base, static_cast<float>(len) - static_cast<float>(s.dry_allowed_length));
  }
}

// Zeroes probs outside `keep` (by index) and renormalises.
void renormalise(std::vector<double>& p) {
  double sum = 0.0;
  for (double v : p) sum += v;
  if (sum > 0)
    for (double& v : p) v /= sum;
}

}  // namespace

SamplerRng::SamplerRng(std::uint64_t seed) : seed_(seed) {
  std::uint64_t x = seed;
  for (auto& w : s_) w = splitmix64(x);
}

std::uint64_t SamplerRng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

Status SamplerSettings::validate(int vocab_size) const {
  auto bad = [](const char* what) { return make_error(ErrorKind::invalid_argument, "sampler: ", what); };
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) return bad("temperature must be a finite number >= 0");
  if (top_k < 0) return bad("top_k must be >= 0 (0 = off)");
  if (!(top_p > 0.0f && top_p <= 1.0f)) return bad("top_p must be in (0, 1] (1 = off)");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return bad("min_p must be in [0, 1] (0 = off)");
  if (!(typical_p > 0.0f && typical_p <= 1.0f)) return bad("typical_p must be in (0, 1] (1 = off)");
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) return bad("repetition_penalty must be > 0 (1 = off)");
  if (!std::isfinite(frequency_penalty) || !std::isfinite(presence_penalty)) return bad("frequency/presence penalties must be finite");
  if (penalty_range < 0 || dry_range < 0) return bad("penalty_range and dry_range must be >= 0 (0 = all)");
  if (!(dry_multiplier >= 0.0f) || !(dry_base >= 1.0f) || dry_allowed_length < 1)
    return bad("DRY needs multiplier >= 0, base >= 1 and allowed_length >= 1");
  if (!(xtc_threshold >= 0.0f && xtc_threshold <= 1.0f) || !(xtc_probability >= 0.0f && xtc_probability <= 1.0f))
    return bad("xtc_threshold and xtc_probability must be in [0, 1]");
  for (const auto& [id, b] : logit_bias)
    if (id < 0 || id >= vocab_size || !std::isfinite(b))
      return make_error(ErrorKind::invalid_argument, "sampler: logit_bias for id ", id, " (vocabulary ", vocab_size, ", finite bias)");
  for (auto id : banned_ids)
    if (id < 0 || id >= vocab_size)
      return make_error(ErrorKind::invalid_argument, "sampler: banned id ", id, " is outside the vocabulary (", vocab_size, ")");
  for (auto id : dry_sequence_breakers)
    if (id < 0 || id >= vocab_size)
      return make_error(ErrorKind::invalid_argument, "sampler: DRY breaker id ", id, " is outside the vocabulary (", vocab_size, ")");
  return {};
}

void Sampler::probabilities(std::span<const float> logits, const SamplerSettings& s, const SamplerContext& ctx,
                            SamplerRng& rng, std::vector<float>& probs) {
  const std::size_t V = logits.size();
  work_.assign(logits.begin(), logits.end());
  probs.assign(V, 0.0f);
  if (V == 0) return;

  // 1. bans and bias.
  for (auto id : s.banned_ids)
    if (id >= 0 && static_cast<std::size_t>(id) < V) work_[static_cast<std::size_t>(id)] = kNegInf;
  for (auto id : ctx.suppress_ids)
    if (id >= 0 && static_cast<std::size_t>(id) < V) work_[static_cast<std::size_t>(id)] = kNegInf;
  for (const auto& [id, b] : s.logit_bias)
    if (id >= 0 && static_cast<std::size_t>(id) < V) work_[static_cast<std::size_t>(id)] += b;

  // 2. penalties over the window.
  if (s.repetition_penalty != 1.0f || s.frequency_penalty != 0.0f || s.presence_penalty != 0.0f) {
    std::unordered_map<std::int32_t, int> counts;
    for (auto id : penalty_window(s, ctx)) ++counts[id];
    for (const auto& [id, c] : counts) {
      if (id < 0 || static_cast<std::size_t>(id) >= V) continue;
      float& x = work_[static_cast<std::size_t>(id)];
      if (s.repetition_penalty != 1.0f) x = x > 0 ? x / s.repetition_penalty : x * s.repetition_penalty;
      x -= static_cast<float>(c) * s.frequency_penalty + s.presence_penalty;
    }
  }
  // 3. DRY.
  if (s.dry_multiplier > 0.0f) apply_dry(s, ctx.tokens, work_);

  // 4. greedy / temperature.
  if (s.greedy()) {
    const auto best = static_cast<std::size_t>(std::max_element(work_.begin(), work_.end()) - work_.begin());
    probs[best] = 1.0f;
    return;
  }
  const float mx = *std::max_element(work_.begin(), work_.end());
  std::vector<double> p(V);
  if (mx == kNegInf) {  // everything banned: fall back to the unprocessed argmax
    probs[static_cast<std::size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin())] = 1.0f;
    return;
  }
  const double inv_t = 1.0 / static_cast<double>(s.temperature);
  for (std::size_t i = 0; i < V; ++i)
    p[i] = work_[i] == kNegInf ? 0.0 : std::exp((static_cast<double>(work_[i]) - mx) * inv_t);
  renormalise(p);

  // Ids of the candidates sorted by probability, highest first (ties: lower id first).
  auto sorted = [&]() {
    order_.resize(V);
    std::iota(order_.begin(), order_.end(), 0);
    std::sort(order_.begin(), order_.end(), [&](std::int32_t a, std::int32_t b) {
      const double pa = p[static_cast<std::size_t>(a)], pb = p[static_cast<std::size_t>(b)];
      return pa > pb || (pa == pb && a < b);
    });
  };

  // 5. truncation.
  if (s.top_k > 0 && static_cast<std::size_t>(s.top_k) < V) {
    std::vector<double> copy(p);
    std::nth_element(copy.begin(), copy.begin() + (s.top_k - 1), copy.end(), std::greater<double>());
    const double kth = copy[static_cast<std::size_t>(s.top_k - 1)];
    for (double& v : p)
      if (v < kth) v = 0.0;
    renormalise(p);
  }
  if (s.top_p < 1.0f) {
    // Only the nucleus needs an order: partial_sort puts the same first m ids in the same order as
    // a full sort would (the order is total), so sort 64 and widen only when their mass falls
    // short of top_p. The sum runs in the same order, so the cut is the full sort's.
    order_.resize(V);
    std::iota(order_.begin(), order_.end(), 0);
    const auto by_p = [&](std::int32_t a, std::int32_t b) {
      const double pa = p[static_cast<std::size_t>(a)], pb = p[static_cast<std::size_t>(b)];
      return pa > pb || (pa == pb && a < b);
    };
    std::size_t m = std::min<std::size_t>(V, 64), keep = 0;
    for (;;) {
      std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(m), order_.end(), by_p);
      double cum = 0.0;
      keep = 0;
      while (keep < m && (keep == 0 || cum < s.top_p)) cum += p[static_cast<std::size_t>(order_[keep++])];
      if (cum >= s.top_p || m == V) break;
      m = std::min(V, m * 8);
    }
    for (std::size_t i = keep; i < V; ++i) p[static_cast<std::size_t>(order_[i])] = 0.0;
    renormalise(p);
  }
  if (s.min_p > 0.0f) {
    const double thr = *std::max_element(p.begin(), p.end()) * s.min_p;
    for (double& v : p)
      if (v < thr) v = 0.0;
    renormalise(p);
  }
  if (s.typical_p < 1.0f) {
    double entropy = 0.0;
    for (double v : p)
      if (v > 0) entropy -= v * std::log(v);
    std::vector<double> shift(V, std::numeric_limits<double>::infinity());
    for (std::size_t i = 0; i < V; ++i)
      if (p[i] > 0) shift[i] = std::abs(-std::log(p[i]) - entropy);
    order_.resize(V);
    std::iota(order_.begin(), order_.end(), 0);
    std::sort(order_.begin(), order_.end(), [&](std::int32_t a, std::int32_t b) {
      const double sa = shift[static_cast<std::size_t>(a)], sb = shift[static_cast<std::size_t>(b)];
      return sa < sb || (sa == sb && a < b);
    });
    double cum = 0.0;
    std::size_t keep = 0;
    while (keep < V && (keep == 0 || cum < s.typical_p)) cum += p[static_cast<std::size_t>(order_[keep++])];
    for (std::size_t i = keep; i < V; ++i) p[static_cast<std::size_t>(order_[i])] = 0.0;
    renormalise(p);
  }
  // 6. XTC: with probability xtc_probability, drop every token at or above the threshold except
  // the least likely of them (only when at least two qualify).
  if (s.xtc_probability > 0.0f && rng.uniform() < s.xtc_probability) {
    sorted();
    std::size_t above = 0;
    while (above < V && p[static_cast<std::size_t>(order_[above])] >= s.xtc_threshold) ++above;
    if (above >= 2) {
      for (std::size_t i = 0; i + 1 < above; ++i) p[static_cast<std::size_t>(order_[i])] = 0.0;
      renormalise(p);
    }
  }
  for (std::size_t i = 0; i < V; ++i) probs[i] = static_cast<float>(p[i]);
}

std::int32_t Sampler::draw(std::span<const float> probs, double u) {
  double total = 0.0;
  for (float v : probs) total += v;
  const double target = u * total;
  double cum = 0.0;
  std::int32_t last = 0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0.0f) continue;
    cum += probs[i];
    last = static_cast<std::int32_t>(i);
    if (target < cum) return last;
  }
  return last;
}

std::int32_t Sampler::gumbel_max(std::span<const float> probs, std::uint64_t seed, std::uint64_t step) {
  std::int32_t best = -1;
  float best_score = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0.0f) continue;
    const float u = rng::uniform(seed, step, static_cast<std::uint32_t>(i));
    const float score = std::log(probs[i]) - std::log(-std::log(u));
    if (best < 0 || score > best_score) {
      best = static_cast<std::int32_t>(i);
      best_score = score;
    }
  }
  return best < 0 ? 0 : best;
}

std::int32_t Sampler::sample(std::span<const float> logits, const SamplerSettings& s, const SamplerContext& ctx,
                             SamplerRng& rng) {
  // Plain greedy (nothing that edits the logits first): the argmax, lowest id on ties, without
  // building the distribution (what probabilities() + argmax give, at a fraction of the work).
  if (s.greedy() && !s.edits_logits() && ctx.suppress_ids.empty()) {
    if (logits.empty()) return 0;
    return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  probabilities(logits, s, ctx, rng, probs_);
  if (s.greedy()) return static_cast<std::int32_t>(std::max_element(probs_.begin(), probs_.end()) - probs_.begin());
  return gumbel_max(probs_, rng.seed(), rng.take_step());
}

}  // namespace nibble
