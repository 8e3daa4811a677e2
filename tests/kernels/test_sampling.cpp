// GPU token choice: greedy equals the CPU argmax (lowest id on ties); top-k 1 and tiny top-p
// reduce to greedy; min-p and top-k keep only allowed tokens; sampled frequencies over many seeds
// follow softmax(logits / T) (chi-square on a small vocabulary).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "gpu_test_util.h"
#include "nibble_kernels/sampling.h"

namespace nibble {
namespace {

using gpu_test::Dev;

std::vector<int> run(const std::vector<float>& logits, int vocab, const std::vector<kernels::SampleRow>& params) {
  const int rows = static_cast<int>(params.size());
  Dev<float> l(logits);
  Dev<kernels::SampleRow> p(params);
  Dev<int> out(rows);
  EXPECT_EQ(kernels::sample_rows(l.p, vocab, vocab, rows, p.p, out.p, nullptr), 0);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return out.get();
}

TEST(Sampling, GreedyAndDegenerateFilters) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(41);
  const int vocab = 151936, rows = 4;
  auto logits = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * vocab, 3.0f);
  logits[2 * vocab + 5] = 100.0f;
  logits[2 * vocab + 9] = 100.0f;  // tie: lowest id wins
  std::vector<kernels::SampleRow> p(rows);
  auto greedy = run(logits, vocab, p);
  for (int r = 0; r < rows; ++r) {
    const auto b = logits.begin() + static_cast<std::ptrdiff_t>(r) * vocab;
    EXPECT_EQ(greedy[r], std::max_element(b, b + vocab) - b) << r;
  }
  EXPECT_EQ(greedy[2], 5);
  for (auto& s : p) {
    s.temperature = 1.0f;
    s.top_k = 1;
    s.seed = 7;
  }
  EXPECT_EQ(run(logits, vocab, p), greedy);
  for (auto& s : p) {
    s.top_k = 0;
    s.top_p = 1e-6f;
  }
  EXPECT_EQ(run(logits, vocab, p), greedy);
}

TEST(Sampling, FrequenciesFollowTheDistribution) {
  NIBBLE_REQUIRE_GPU();
  const int vocab = 8, draws = 4000;
  const std::vector<float> base = {2.0f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 1.5f, 0.2f};
  std::vector<float> logits;
  std::vector<kernels::SampleRow> p;
  for (int i = 0; i < draws; ++i) {
    logits.insert(logits.end(), base.begin(), base.end());
    kernels::SampleRow s;
    s.temperature = 0.8f;
    s.seed = 1234;
    s.step = static_cast<std::uint64_t>(i);
    p.push_back(s);
  }
  const auto ids = run(logits, vocab, p);
  std::vector<int> counts(vocab, 0);
  for (int id : ids) ++counts[id];
  double z = 0;
  for (float v : base) z += std::exp(v / 0.8);
  double chi2 = 0;
  for (int i = 0; i < vocab; ++i) {
    const double e = draws * std::exp(base[i] / 0.8) / z;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  EXPECT_LT(chi2, 24.3);  // 7 degrees of freedom, p = 0.001

  // top-k 3 keeps only the three largest; min-p 0.5 keeps tokens with p >= 0.5 p_max.
  for (auto& s : p) s.top_k = 3;
  for (int id : run(logits, vocab, p)) EXPECT_TRUE(id == 0 || id == 6 || id == 1) << id;
  for (auto& s : p) {
    s.top_k = 0;
    s.min_p = 0.5f;
  }
  for (int id : run(logits, vocab, p)) EXPECT_TRUE(id == 0 || id == 6) << id;  // exp((1.5-2)/0.8)=0.53
}

}  // namespace
}  // namespace nibble
