// The quantizer's math on small synthetic layers: what the solver says it produced is exactly what
// the packed tensors unpack to (no packing drift), GPTQ beats plain rounding on correlated inputs,
// the Hessian factor is the inverse it claims, act-order sorts by the diagonal, results do not
// depend on the thread count, and the bit allocation matches a brute-force search.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "formats/exl2.h"
#include "quant/allocate.h"
#include "quant/calibration.h"
#include "quant/candidates.h"
#include "quant/gptq.h"
#include "quant/linalg.h"
#include "quant/scale_search.h"
#include "quant_test_util.h"
#include "nibble/tokenizer.h"
#include "util/half.h"

namespace nibble::quant {
namespace {

struct Problem {
  int K = 0, N = 0, T = 0;
  std::vector<float> w;  // [N][K]
  std::vector<float> x;  // [T][K]
  Hessian h;
};

// Inputs with a few strong, correlated directions and uneven row scales (like LLM activations).
Problem make_problem(int K, int N, int T, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Problem p{K, N, T, std::vector<float>(static_cast<std::size_t>(N) * K), std::vector<float>(static_cast<std::size_t>(T) * K), {}};
  for (auto& v : p.w) v = 0.05f * g(rng);
  const int R = 6;
  std::vector<float> basis(static_cast<std::size_t>(R) * K), scale(static_cast<std::size_t>(K));
  for (auto& v : basis) v = g(rng);
  for (int k = 0; k < K; ++k) scale[static_cast<std::size_t>(k)] = 0.2f + 3.0f * std::pow(static_cast<float>((k * 7919) % K) / K, 4.0f);
  for (int t = 0; t < T; ++t) {
    float c[R];
    for (auto& v : c) v = g(rng);
    for (int k = 0; k < K; ++k) {
      float v = 0.3f * g(rng);
      for (int r = 0; r < R; ++r) v += c[r] * basis[static_cast<std::size_t>(r) * K + k];
      p.x[static_cast<std::size_t>(t) * K + k] = v * scale[static_cast<std::size_t>(k)];
    }
  }
  p.h = Hessian{K, std::vector<double>(static_cast<std::size_t>(K) * K), 0};
  ThreadPool pool(2);
  add_gram(p.x.data(), T, K, K, p.h.h, pool);
  p.h.tokens = T;
  return p;
}

// ||X (W - Wq)^T||^2 / ||X W^T||^2
double output_error(const Problem& p, const std::vector<float>& wq) {
  double num = 0, den = 0;
  for (int t = 0; t < p.T; ++t)
    for (int n = 0; n < p.N; ++n) {
      double a = 0, b = 0;
      for (int k = 0; k < p.K; ++k) {
        const double xv = p.x[static_cast<std::size_t>(t) * p.K + k];
        a += xv * p.w[static_cast<std::size_t>(n) * p.K + k];
        b += xv * wq[static_cast<std::size_t>(n) * p.K + k];
      }
      num += (a - b) * (a - b);
      den += a * a;
    }
  return num / den;
}

LinearDesc desc_of(const Exl2Packed& packed, int K, int N) {
  LinearDesc d;
  d.name = "layer";
  d.format = LinearFormat::exl2;
  d.K = K;
  d.N = N;
  d.exl2 = packed.views("layer");
  return d;
}

TEST(QuantSolver, PackedFileUnpacksToTheSolverWeights) {
  const Problem p = make_problem(192, 48, 600, 1);
  ThreadPool pool(2);
  auto ph = prepare_hessian(p.h, pool);
  ASSERT_TRUE(ph) << ph.error().to_string();
  int tried = 0;
  for (const auto& mix : linear_mixes()) {
    auto layout = mix_layout(mix, p.K);
    ASSERT_TRUE(layout);
    auto r = gptq_quantize(p.w.data(), p.N, p.K, *ph, *layout, pool);
    ASSERT_TRUE(r) << mix.name << ": " << r.error().to_string();
    auto packed = exl2_pack(r->exl2);
    ASSERT_TRUE(packed) << mix.name << ": " << packed.error().to_string();
    const LinearDesc d = desc_of(*packed, p.K, p.N);
    ASSERT_TRUE(exl2_validate(d)) << mix.name;
    std::vector<float> out(static_cast<std::size_t>(p.K) * p.N);
    ASSERT_TRUE(exl2_dequantize(d, out.data()));
    ASSERT_EQ(std::memcmp(out.data(), r->weight.data(), out.size() * sizeof(float)), 0) << "packing drift in " << mix.name;
    EXPECT_NEAR(d.bits_per_weight(), static_cast<double>(layout_bits(*layout, p.K, p.N)) / (p.K * p.N), 1e-9) << mix.name;
    ++tried;
  }
  EXPECT_GE(tried, 10);
}

TEST(QuantSolver, GptqBeatsRoundingOnCorrelatedInputs) {
  const Problem p = make_problem(256, 64, 800, 2);
  ThreadPool pool(2);
  auto ph = prepare_hessian(p.h, pool);
  ASSERT_TRUE(ph);
  // The same solver with an identity Hessian is round-to-nearest with the same scale search.
  Hessian ident{p.K, std::vector<double>(static_cast<std::size_t>(p.K) * p.K, 0.0), 1};
  for (int k = 0; k < p.K; ++k) ident.h[static_cast<std::size_t>(k) * p.K + k] = 1.0;
  auto pi = prepare_hessian(ident, pool);
  ASSERT_TRUE(pi);
  for (const char* name : {"3 g32", "4 g32", "4:25/3 g32"}) {
    const int m = mix_index(name);
    ASSERT_GE(m, 0) << name;
    auto layout = mix_layout(linear_mixes()[static_cast<std::size_t>(m)], p.K);
    auto g = gptq_quantize(p.w.data(), p.N, p.K, *ph, *layout, pool);
    auto rtn = gptq_quantize(p.w.data(), p.N, p.K, *pi, *layout, pool);
    ASSERT_TRUE(g && rtn);
    const double eg = output_error(p, g->weight), er = output_error(p, rtn->weight);
    std::printf("%-12s gptq %.3e  rtn %.3e\n", name, eg, er);
    EXPECT_LT(eg, 0.8 * er) << name;
  }
}

TEST(QuantSolver, HessianFactorIsTheDampedInverseInActOrder) {
  const Problem p = make_problem(96, 8, 300, 3);
  ThreadPool pool(2);
  auto ph = prepare_hessian(p.h, pool);
  ASSERT_TRUE(ph);
  const std::size_t K = static_cast<std::size_t>(p.K);
  for (std::size_t i = 1; i < K; ++i)
    EXPECT_GE(p.h.h[static_cast<std::size_t>(ph->perm[i - 1]) * K + static_cast<std::size_t>(ph->perm[i - 1])],
              p.h.h[static_cast<std::size_t>(ph->perm[i]) * K + static_cast<std::size_t>(ph->perm[i])]);
  // (U^T U) (P H P^T + damp I) = I
  double worst = 0;
  for (std::size_t i = 0; i < K; ++i)
    for (std::size_t j = 0; j < K; ++j) {
      double s = 0;
      for (std::size_t m = 0; m < K; ++m) {
        double uu = 0;
        for (std::size_t r = 0; r <= std::min(i, m); ++r) uu += static_cast<double>(ph->hinv_u[r * K + i]) * ph->hinv_u[r * K + m];
        const double hm = p.h.h[static_cast<std::size_t>(ph->perm[m]) * K + static_cast<std::size_t>(ph->perm[j])] + (m == j ? ph->damp : 0.0);
        s += uu * hm;
      }
      worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  EXPECT_LT(worst, 1e-3);
}

TEST(QuantSolver, DeadInputsAndSingularHessian) {
  Problem p = make_problem(64, 16, 200, 4);
  // Input 5 never fires: its row and column are zero. The solver must still factorize and zero it.
  for (int k = 0; k < p.K; ++k) {
    p.h.h[static_cast<std::size_t>(5) * p.K + k] = 0;
    p.h.h[static_cast<std::size_t>(k) * p.K + 5] = 0;
  }
  ThreadPool pool(2);
  auto ph = prepare_hessian(p.h, pool);
  ASSERT_TRUE(ph) << ph.error().to_string();
  EXPECT_EQ(ph->dead[5], 1);
  auto layout = mix_layout(linear_mixes()[static_cast<std::size_t>(mix_index("4 g32"))], p.K);
  auto r = gptq_quantize(p.w.data(), p.N, p.K, *ph, *layout, pool);
  ASSERT_TRUE(r);
  for (int n = 0; n < p.N; ++n) EXPECT_EQ(r->weight[static_cast<std::size_t>(n) * p.K + 5], 0.0f);
  for (float v : r->weight) ASSERT_TRUE(std::isfinite(v));
}

TEST(QuantSolver, SameBitsWithOneOrTwoThreads) {
  const Problem p = make_problem(160, 40, 400, 5);
  ThreadPool one(1), two(2);
  auto a = prepare_hessian(p.h, one);
  auto b = prepare_hessian(p.h, two);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->hinv_u, b->hinv_u);
  auto layout = mix_layout(linear_mixes()[static_cast<std::size_t>(mix_index("5:25/4 g32"))], p.K);
  auto ra = gptq_quantize(p.w.data(), p.N, p.K, *a, *layout, one);
  auto rb = gptq_quantize(p.w.data(), p.N, p.K, *b, *layout, two);
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra->exl2.codes, rb->exl2.codes);
  EXPECT_EQ(ra->exl2.scale_codes, rb->exl2.scale_codes);
  EXPECT_EQ(ra->exl2.scale_max, rb->exl2.scale_max);
}

TEST(QuantSolver, ScaleSearchBeatsTheAbsMaxScale) {
  std::mt19937 rng(6);
  std::student_t_distribution<float> heavy(3.0f);
  const int rows = 32, N = 64;
  std::vector<float> wt(static_cast<std::size_t>(rows) * N), imp(rows, 1.0f);
  for (auto& v : wt) v = 0.01f * heavy(rng);
  ThreadPool pool(2);
  for (int bits : {2, 3, 4, 6}) {
    const GroupScales s = search_group_scales(wt.data(), rows, N, N, imp.data(), bits, pool);
    const int zero = 1 << (bits - 1);
    double searched = 0, absmax = 0;
    // The abs-max maximum a plain converter stores: the largest column's unclipped scale.
    float top = 0;
    for (float v : wt) top = std::max(top, std::fabs(v));
    const float naive_max = fp16_to_fp32(fp32_to_fp16(top / static_cast<float>(zero - 1) * 1.001f));
    for (int n = 0; n < N; ++n) {
      float amax = 0;
      for (int r = 0; r < rows; ++r) amax = std::max(amax, std::fabs(wt[static_cast<std::size_t>(r) * N + n]));
      // No clipping: the smallest code whose scale covers the column on the positive side.
      const float need = amax / static_cast<float>(zero - 1);
      int c = 0;
      while (c < 15 && exl2_value(zero + 1, bits, naive_max, c) < need) ++c;
      const float naive = exl2_value(zero + 1, bits, naive_max, c);
      for (int r = 0; r < rows; ++r) {
        const float v = wt[static_cast<std::size_t>(r) * N + n];
        const float a = static_cast<float>(quantize_code(v, s.scale[static_cast<std::size_t>(n)], bits) - zero) * s.scale[static_cast<std::size_t>(n)];
        const float b = static_cast<float>(quantize_code(v, naive, bits) - zero) * naive;
        searched += (v - a) * (v - a);
        absmax += (v - b) * (v - b);
      }
      // The code's scale is what the format stores: smax * (c + 1)^2 / 256.
      EXPECT_EQ(s.scale[static_cast<std::size_t>(n)], exl2_value(zero + 1, bits, fp16_to_fp32(s.smax), s.codes[static_cast<std::size_t>(n)]));
    }
    std::printf("bits %d: searched %.4e, abs-max %.4e\n", bits, searched, absmax);
    EXPECT_LT(searched, absmax) << bits;
  }
}

TEST(QuantAllocate, MatchesBruteForce) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<BlockMeasurement> blocks(5);
    for (int b = 0; b < 5; ++b) {
      blocks[static_cast<std::size_t>(b)].layer = b;
      blocks[static_cast<std::size_t>(b)].weights = 1000;
      for (int c = 0; c < 4; ++c) {
        const std::int64_t bits = 2000 + 1000 * c + static_cast<std::int64_t>(300 * u(rng));
        blocks[static_cast<std::size_t>(b)].scores.push_back({c, bits, std::exp(-1.2 * c) * (0.5 + u(rng))});
      }
    }
    const double target = 2.5 + 2.5 * u(rng);
    auto a = allocate_bits(blocks, target);
    ASSERT_TRUE(a) << a.error().to_string();
    EXPECT_LE(a->bits, static_cast<std::int64_t>(target * 5000));
    double best = INFINITY;
    for (int code = 0; code < 1024; ++code) {
      std::int64_t bits = 0;
      double err = 0;
      for (int b = 0, c = code; b < 5; ++b, c /= 4) {
        bits += blocks[static_cast<std::size_t>(b)].scores[static_cast<std::size_t>(c % 4)].bits;
        err += blocks[static_cast<std::size_t>(b)].scores[static_cast<std::size_t>(c % 4)].error;
      }
      // The allocator's grid may give up one grid step per block of the budget.
      if (static_cast<double>(bits) <= target * 5000 * (1.0 - 5.0 / 20000)) best = std::min(best, err);
    }
    EXPECT_LE(a->error, best + 1e-12) << "trial " << trial;
  }
  std::vector<BlockMeasurement> one(1);
  one[0].weights = 1000;
  one[0].scores.push_back({0, 3000, 1.0});
  auto too_low = allocate_bits(one, 2.0);
  ASSERT_FALSE(too_low);
  EXPECT_EQ(too_low.error().kind, ErrorKind::invalid_argument);
}

TEST(QuantCalibration, RowsSpreadOverTheText) {
  auto tok = Tokenizer::load(test::demo_dir());
  ASSERT_TRUE(tok) << tok.error().to_string();
  test::TempDir t("cal");
  {
    std::ofstream f(t.sub("c.jsonl"));
    for (int i = 0; i < 40; ++i) f << "{\"text\": \"Document " << i << ": a word is defined by its use in a sentence.\"}\n";
  }
  auto docs = read_calibration_documents(t.sub("c.jsonl"));
  ASSERT_TRUE(docs) << docs.error().to_string();
  ASSERT_EQ(docs->size(), 40u);
  auto set = make_calibration(**tok, *docs, 5, 32, "c.jsonl");
  ASSERT_TRUE(set) << set.error().to_string();
  ASSERT_EQ(set->ids.size(), 5u * 32u);
  auto all = (*tok)->encode("Document 0: a word is defined by its use in a sentence.", false);
  ASSERT_TRUE(all);
  // The first row starts at the first token of the text, the last row ends at its last token.
  EXPECT_EQ(set->ids[0], (*all)[0]);
  auto last = (*tok)->encode(docs->back(), false);
  EXPECT_EQ(set->ids.back(), last->back());
  EXPECT_FALSE(set->overlapping);
  auto big = make_calibration(**tok, *docs, 500, 32, "c.jsonl");
  ASSERT_TRUE(big);
  EXPECT_TRUE(big->overlapping);
  EXPECT_FALSE(make_calibration(**tok, *docs, 1, 1 << 20, "c.jsonl"));
}

}  // namespace
}  // namespace nibble::quant
