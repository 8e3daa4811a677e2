// n-gram drafting and the verification rule: the output of verify_draft_token is distributed as
// the target p whatever the draft distribution q (chi-square over many draws, small vocabulary).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/speculative.h"

namespace nibble {
namespace {

TEST(NgramDraft, ProposesWhatFollowedTheLatestMatch) {
  const std::vector<std::int32_t> t = {1, 2, 3, 4, 9, 1, 2, 3, 5, 6, 7, 1, 2, 3};
  EXPECT_EQ(ngram_propose(t, 1, 3, 3), (std::vector<std::int32_t>{5, 6, 7}));
  EXPECT_EQ(ngram_propose(t, 1, 3, 10), (std::vector<std::int32_t>{5, 6, 7, 1, 2, 3}));
  const std::vector<std::int32_t> none = {1, 2, 3, 4};
  EXPECT_TRUE(ngram_propose(none, 1, 3, 4).empty());
  const std::vector<std::int32_t> short_match = {7, 8, 9, 5, 8, 9};
  EXPECT_EQ(ngram_propose(short_match, 2, 3, 2), (std::vector<std::int32_t>{5, 8}));
  EXPECT_TRUE(ngram_propose(short_match, 3, 3, 2).empty());
}

std::vector<float> random_dist(std::mt19937_64& g, int V) {
  std::vector<float> p(static_cast<std::size_t>(V));
  double sum = 0;
  for (auto& v : p) {
    v = static_cast<float>(std::exponential_distribution<double>(1.0)(g));
    sum += v;
  }
  for (auto& v : p) v = static_cast<float>(v / sum);
  return p;
}

// Chi-square statistic of counts against probabilities.
double chi_square(const std::vector<int>& n, const std::vector<float>& p, int total) {
  double chi = 0;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const double e = total * static_cast<double>(p[i]);
    if (e > 0) chi += (n[i] - e) * (n[i] - e) / e;
  }
  return chi;
}

TEST(VerifyDraft, OutputIsDistributedAsTheTarget) {
  std::mt19937_64 g(5);
  constexpr int V = 6, N = 60000;
  for (int round = 0; round < 4; ++round) {
    const auto p = random_dist(g, V);
    const auto q = random_dist(g, V);
    SamplerRng rng(100 + static_cast<std::uint64_t>(round));
    std::vector<int> model_draft(V), fixed_draft(V);
    int accepted = 0;
    for (int i = 0; i < N; ++i) {
      const std::int32_t d = Sampler::draw(q, rng.uniform());
      const DraftVerdict v = verify_draft_token(p, q, d, false, rng);
      accepted += v.accepted;
      ++model_draft[static_cast<std::size_t>(v.token)];
      // A deterministic proposal (n-gram): always token 2.
      ++fixed_draft[static_cast<std::size_t>(verify_draft_token(p, {}, 2, false, rng).token)];
    }
    // 5 degrees of freedom: p = 0.001 at 20.5.
    EXPECT_LT(chi_square(model_draft, p, N), 20.5) << "round " << round;
    EXPECT_LT(chi_square(fixed_draft, p, N), 20.5) << "round " << round;
    // Acceptance rate is sum_i min(p_i, q_i).
    double want = 0;
    for (int i = 0; i < V; ++i) want += std::min(p[static_cast<std::size_t>(i)], q[static_cast<std::size_t>(i)]);
    EXPECT_NEAR(static_cast<double>(accepted) / N, want, 0.01);
  }
  // The checker fails on a wrong rule: always accepting the draft gives q, not p.
  const auto p = random_dist(g, V);
  const auto q = random_dist(g, V);
  SamplerRng rng(9);
  std::vector<int> wrong(V);
  for (int i = 0; i < N; ++i) ++wrong[static_cast<std::size_t>(Sampler::draw(q, rng.uniform()))];
  EXPECT_GT(chi_square(wrong, p, N), 20.5);
}

TEST(VerifyDraft, GreedyAcceptsOnlyTheArgmax) {
  const std::vector<float> p = {0.0f, 0.0f, 1.0f, 0.0f};
  SamplerRng rng(1);
  auto v = verify_draft_token(p, {}, 2, true, rng);
  EXPECT_TRUE(v.accepted);
  v = verify_draft_token(p, {}, 1, true, rng);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.token, 2);
}

}  // namespace
}  // namespace nibble
