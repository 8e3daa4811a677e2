// The CPU sampler against a straightforward reference written the way HF transformers' logits
// processors and text-generation-webui's DRY/XTC are specified (mask logits with -inf, recompute
// the softmax for every warper, brute-force DRY), over random logits, contexts and settings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "nibble/runtime.h"
#include "nibble_kernels/rng.h"

namespace nibble {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> softmax(const std::vector<double>& x) {
  double mx = -kInf;
  for (double v : x) mx = std::max(mx, v);
  std::vector<double> p(x.size(), 0.0);
  double sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    p[i] = x[i] == -kInf ? 0.0 : std::exp(x[i] - mx);
    sum += p[i];
  }
  for (double& v : p) v /= sum;
  return p;
}

// The longest run of context ending at position i (inclusive) that equals the run ending at the
// last position, both free of breakers; 0 when ctx[i] differs from the last token.
std::size_t common_suffix(const std::vector<std::int32_t>& c, std::size_t i, const std::vector<std::int32_t>& breakers) {
  auto brk = [&](std::int32_t t) { return std::count(breakers.begin(), breakers.end(), t) > 0; };
  std::size_t len = 0;
  const std::size_t n = c.size();
  while (len <= i && c[i - len] == c[n - 1 - len] && !brk(c[i - len])) ++len;
  return len;
}

// Reference: returns the final distribution; xtc_fires tells whether XTC's coin came up.
std::vector<double> reference(const std::vector<float>& logits, const SamplerSettings& s, const std::vector<std::int32_t>& ctx,
                              int prompt_len, const std::vector<std::int32_t>& suppress, bool xtc_fires) {
  const std::size_t V = logits.size();
  std::vector<double> x(logits.begin(), logits.end());
  for (auto id : s.banned_ids) x[static_cast<std::size_t>(id)] = -kInf;
  for (auto id : suppress) x[static_cast<std::size_t>(id)] = -kInf;
  for (auto [id, b] : s.logit_bias) x[static_cast<std::size_t>(id)] = static_cast<float>(static_cast<float>(x[static_cast<std::size_t>(id)]) + b);

  // Penalties (HF RepetitionPenaltyLogitsProcessor, then OpenAI-style frequency/presence).
  std::vector<std::int32_t> window(ctx.begin() + (s.penalize_prompt ? 0 : prompt_len), ctx.end());
  if (s.penalty_range > 0 && window.size() > static_cast<std::size_t>(s.penalty_range))
    window.erase(window.begin(), window.end() - s.penalty_range);
  std::map<std::int32_t, int> count;
  for (auto t : window) count[t]++;
  for (auto [t, c] : count) {
    float v = static_cast<float>(x[static_cast<std::size_t>(t)]);
    if (v > 0) v = v / s.repetition_penalty;
    else v = v * s.repetition_penalty;
    v -= static_cast<float>(c) * s.frequency_penalty + s.presence_penalty;
    x[static_cast<std::size_t>(t)] = v;
  }
  // DRY, brute force per candidate token.
  if (s.dry_multiplier > 0) {
    std::vector<std::int32_t> c(ctx);
    if (s.dry_range > 0 && c.size() > static_cast<std::size_t>(s.dry_range)) c.erase(c.begin(), c.end() - s.dry_range);
    auto brk = [&](std::int32_t t) { return std::count(s.dry_sequence_breakers.begin(), s.dry_sequence_breakers.end(), t) > 0; };
    if (c.size() >= 2 && !brk(c.back())) {
      for (std::size_t t = 0; t < V; ++t) {
        if (brk(static_cast<std::int32_t>(t))) continue;
        std::size_t best = 0;
        for (std::size_t i = 0; i + 1 < c.size(); ++i)
          if (c[i + 1] == static_cast<std::int32_t>(t)) best = std::max(best, common_suffix(c, i, s.dry_sequence_breakers));
        if (best >= static_cast<std::size_t>(s.dry_allowed_length) && best > 0)
          x[t] = static_cast<float>(static_cast<float>(x[t]) -
                                    s.dry_multiplier * std::pow(s.dry_base, static_cast<float>(best) - s.dry_allowed_length));
      }
    }
  }
  if (s.temperature <= 0) {
    std::vector<double> p(V, 0.0);
    p[static_cast<std::size_t>(std::max_element(x.begin(), x.end()) - x.begin())] = 1.0;
    return p;
  }
  for (double& v : x) v /= s.temperature;
  if (s.top_k > 0 && static_cast<std::size_t>(s.top_k) < V) {
    std::vector<double> sorted(x);
    std::sort(sorted.rbegin(), sorted.rend());
    const double kth = sorted[static_cast<std::size_t>(s.top_k - 1)];
    for (double& v : x)
      if (v < kth) v = -kInf;
  }
  if (s.top_p < 1) {  // HF: ascending sort, drop the prefix whose cumulative mass <= 1 - top_p
    auto p = softmax(x);
    std::vector<std::pair<double, int>> asc;
    for (std::size_t i = 0; i < V; ++i) asc.push_back({p[i], -static_cast<int>(i)});
    std::sort(asc.begin(), asc.end());
    double cum = 0;
    for (std::size_t r = 0; r + 1 < V; ++r) {
      cum += asc[r].first;
      if (cum <= 1.0 - s.top_p) x[static_cast<std::size_t>(-asc[r].second)] = -kInf;
    }
  }
  if (s.min_p > 0) {
    auto p = softmax(x);
    const double top = *std::max_element(p.begin(), p.end());
    for (std::size_t i = 0; i < V; ++i)
      if (p[i] < s.min_p * top) x[i] = -kInf;
  }
  if (s.typical_p < 1) {
    auto p = softmax(x);
    double h = 0;
    for (double v : p)
      if (v > 0) h -= v * std::log(v);
    std::vector<std::pair<double, std::size_t>> by_shift;
    for (std::size_t i = 0; i < V; ++i) by_shift.push_back({p[i] > 0 ? std::abs(-std::log(p[i]) - h) : kInf, i});
    std::sort(by_shift.begin(), by_shift.end());
    double cum = 0;
    std::size_t last = 0;
    for (std::size_t r = 0; r < V; ++r) {
      cum += p[by_shift[r].second];
      if (cum < s.typical_p) last = r + 1;
    }
    for (std::size_t r = last + 1; r < V; ++r) x[by_shift[r].second] = -kInf;
  }
  if (xtc_fires) {
    auto p = softmax(x);
    std::vector<std::size_t> above;
    for (std::size_t i = 0; i < V; ++i)
      if (p[i] >= s.xtc_threshold) above.push_back(i);
    if (above.size() >= 2) {
      std::size_t least = above[0];
      for (auto i : above)
        if (p[i] < p[least]) least = i;
      for (auto i : above)
        if (i != least) x[i] = -kInf;
    }
  }
  return softmax(x);
}

struct Case {
  std::vector<float> logits;
  std::vector<std::int32_t> ctx;
  int prompt_len = 0;
  SamplerSettings s;
};

Case random_case(std::mt19937_64& g, int V) {
  Case c;
  std::normal_distribution<float> n(0.0f, 2.5f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  c.logits.resize(static_cast<std::size_t>(V));
  for (auto& v : c.logits) v = n(g);
  const int len = static_cast<int>(g() % 200);
  const int alphabet = 2 + static_cast<int>(g() % 12);  // small alphabets make repeats for DRY
  for (int i = 0; i < len; ++i) c.ctx.push_back(static_cast<std::int32_t>(g() % static_cast<unsigned>(alphabet)));
  c.prompt_len = len ? static_cast<int>(g() % static_cast<unsigned>(len)) : 0;
  auto on = [&](double p) { return u(g) < p; };
  SamplerSettings& s = c.s;
  s.temperature = on(0.1) ? 0.0f : 0.3f + 1.5f * u(g);
  if (on(0.4)) s.top_k = 1 + static_cast<int>(g() % 40);
  if (on(0.4)) s.top_p = 0.2f + 0.79f * u(g);
  if (on(0.4)) s.min_p = 0.3f * u(g);
  if (on(0.3)) s.typical_p = 0.2f + 0.79f * u(g);
  if (on(0.4)) s.repetition_penalty = 0.8f + 0.7f * u(g);
  if (on(0.3)) s.frequency_penalty = u(g);
  if (on(0.3)) s.presence_penalty = u(g);
  s.penalty_range = on(0.5) ? static_cast<int>(g() % 50) : 0;
  s.penalize_prompt = on(0.7);
  if (on(0.4)) {
    s.dry_multiplier = 0.2f + u(g);
    s.dry_base = 1.0f + u(g);
    s.dry_allowed_length = 1 + static_cast<int>(g() % 4);
    s.dry_range = on(0.5) ? static_cast<int>(g() % 100) : 0;
    if (on(0.5)) s.dry_sequence_breakers = {static_cast<std::int32_t>(g() % static_cast<unsigned>(alphabet))};
  }
  if (on(0.3)) {
    s.xtc_probability = u(g);
    s.xtc_threshold = 0.05f + 0.3f * u(g);
  }
  if (on(0.3)) s.logit_bias = {{static_cast<std::int32_t>(g() % static_cast<unsigned>(V)), n(g)}};
  if (on(0.3)) s.banned_ids = {static_cast<std::int32_t>(g() % static_cast<unsigned>(V))};
  return c;
}

TEST(Sampler, MatchesReferenceOverRandomLogits) {
  std::mt19937_64 g(1234);
  Sampler sampler;
  std::vector<float> probs;
  int compared = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const int V = trial % 3 == 0 ? 1000 : 64;
    Case c = random_case(g, V);
    ASSERT_TRUE(c.s.validate(V).ok());
    std::vector<std::int32_t> suppress;
    if (trial % 5 == 0) suppress = {static_cast<std::int32_t>(g() % static_cast<unsigned>(V))};
    SamplerContext ctx{c.ctx, c.prompt_len, suppress};
    const std::uint64_t seed = g();
    SamplerRng rng(seed), coin(seed);
    const bool fires = !c.s.greedy() && c.s.xtc_probability > 0 && coin.uniform() < c.s.xtc_probability;
    sampler.probabilities(c.logits, c.s, ctx, rng, probs);
    const auto want = reference(c.logits, c.s, c.ctx, c.prompt_len, suppress, fires);
    double err = 0, sum = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      err = std::max(err, std::abs(static_cast<double>(probs[i]) - want[i]));
      sum += probs[i];
    }
    EXPECT_LT(err, 1e-5) << "trial " << trial << " temperature " << c.s.temperature << " top_k " << c.s.top_k << " top_p "
                         << c.s.top_p << " min_p " << c.s.min_p << " typical " << c.s.typical_p << " dry "
                         << c.s.dry_multiplier << " xtc " << fires;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    // The draw is the inverse CDF over ids in ascending order.
    const double u = std::uniform_real_distribution<double>(0, 1)(g);
    double cum = 0;
    std::int32_t want_id = -1;
    for (std::size_t i = 0; i < want.size() && want_id < 0; ++i) {
      cum += want[i];
      if (u < cum - 1e-9 && want[i] > 0) want_id = static_cast<std::int32_t>(i);
    }
    const std::int32_t got = Sampler::draw(probs, u);
    if (want_id >= 0 && std::abs(cum - u) > 1e-5) {
      EXPECT_EQ(got, want_id) << "trial " << trial;
      ++compared;
    }
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(compared, 2500);
}

// The GPU kernels' rule (kernels/sampling.cu): z = logit / T, the kept token with the largest
// z + Gumbel(uniform(seed, step, id)) wins. The CPU sampler must pick the same token.
TEST(Sampler, DrawsTheTokenTheGpuRulePicks) {
  std::mt19937_64 g(99);
  Sampler sampler;
  int agree = 0, total = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int V = 500;
    std::normal_distribution<float> n(0.0f, 3.0f);
    std::vector<float> logits(V);
    for (auto& v : logits) v = n(g);
    SamplerSettings s;
    s.temperature = 0.5f + static_cast<float>(trial % 7) * 0.2f;
    if (trial % 2) s.top_k = 1 + trial % 50;
    if (trial % 3 == 0) s.min_p = 0.05f;
    if (trial % 5 == 0) s.top_p = 0.8f;
    const auto kept = reference(logits, s, {}, 0, {}, false);
    const std::uint64_t seed = g();
    SamplerRng rng(seed);
    for (int step = 0; step < 3; ++step) {
      int want = -1;
      float best = -INFINITY;
      for (int i = 0; i < V; ++i) {
        if (kept[static_cast<std::size_t>(i)] <= 0) continue;
        const float z = logits[static_cast<std::size_t>(i)] / s.temperature -
                        std::log(-std::log(rng::uniform(seed, static_cast<std::uint64_t>(step), static_cast<std::uint32_t>(i))));
        if (z > best) {
          best = z;
          want = i;
        }
      }
      agree += sampler.sample(logits, s, {}, rng) == want;
      ++total;
    }
  }
  EXPECT_GE(agree, total - 2) << agree << " of " << total;  // float rounding may flip a near-tie
}

TEST(Sampler, TruncatedDrawsFollowTheReferenceDistribution) {
  std::mt19937_64 g(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> logits(40);
  for (auto& v : logits) v = n(g);
  SamplerSettings s;
  s.temperature = 0.9f;
  s.top_k = 12;
  s.top_p = 0.85f;
  s.repetition_penalty = 1.3f;
  const std::vector<std::int32_t> ctx = {1, 2, 3, 1, 2};
  const auto p = reference(logits, s, ctx, 0, {}, false);
  Sampler sampler;
  SamplerRng rng(17);
  constexpr int N = 40000;
  std::vector<int> count(logits.size());
  for (int i = 0; i < N; ++i) ++count[static_cast<std::size_t>(sampler.sample(logits, s, {ctx, 0, {}}, rng))];
  double chi = 0;
  int dof = -1;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(count[i], 0) << "token " << i << " was cut but drawn";
      continue;
    }
    chi += (count[i] - N * p[i]) * (count[i] - N * p[i]) / (N * p[i]);
    ++dof;
  }
  ASSERT_GE(dof, 3);
  const double k = dof, crit = k * std::pow(1 - 2 / (9 * k) + 3.09 * std::sqrt(2 / (9 * k)), 3);  // p = 0.001
  EXPECT_LT(chi, crit) << "dof " << dof;
}

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  Sampler sampler;
  SamplerSettings s;
  s.temperature = 0;
  SamplerRng rng(1);
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(sampler.sample(logits, s, {}, rng), 1);
  s.banned_ids = {1};
  EXPECT_EQ(sampler.sample(logits, s, {}, rng), 3);
  s.banned_ids.clear();
  s.logit_bias = {{2, 5.0f}};
  EXPECT_EQ(sampler.sample(logits, s, {}, rng), 2);
}

TEST(Sampler, DefaultsDrawFromPlainSoftmax) {
  Sampler sampler;
  SamplerSettings s;
  SamplerRng rng(7);
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f};
  std::vector<float> p;
  sampler.probabilities(logits, s, {}, rng, p);
  const double z = std::exp(1.0) + std::exp(2.0) + 1.0;
  EXPECT_NEAR(p[0], std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(p[1], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(p[2], 1.0 / z, 1e-6);
  // Frequencies of 40,000 draws match (chi-square, 2 dof, p = 0.001 -> 13.8).
  std::vector<int> n(3);
  for (int i = 0; i < 40000; ++i) ++n[static_cast<std::size_t>(sampler.sample(logits, s, {}, rng))];
  double chi = 0;
  for (int i = 0; i < 3; ++i) {
    const double e = 40000.0 * p[static_cast<std::size_t>(i)];
    chi += (n[static_cast<std::size_t>(i)] - e) * (n[static_cast<std::size_t>(i)] - e) / e;
  }
  EXPECT_LT(chi, 13.8);
}

TEST(Sampler, SameSeedSameDraws) {
  Sampler a, b;
  SamplerSettings s;
  s.top_p = 0.9f;
  s.xtc_probability = 0.5f;
  std::vector<float> logits(100);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i));
  SamplerRng r1(42), r2(42), r3(43);
  std::vector<std::int32_t> x, y, z;
  for (int i = 0; i < 50; ++i) {
    x.push_back(a.sample(logits, s, {}, r1));
    y.push_back(b.sample(logits, s, {}, r2));
    z.push_back(b.sample(logits, s, {}, r3));
  }
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
}

TEST(Sampler, ValidateNamesTheSetting) {
  SamplerSettings s;
  s.top_p = 0;
  auto st = s.validate(10);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("top_p"), std::string::npos);
  s = {};
  s.banned_ids = {10};
  EXPECT_FALSE(s.validate(10).ok());
  s = {};
  s.temperature = -1;
  EXPECT_FALSE(s.validate(10).ok());
  EXPECT_TRUE(SamplerSettings{}.validate(10).ok());
}

}  // namespace
}  // namespace nibble
