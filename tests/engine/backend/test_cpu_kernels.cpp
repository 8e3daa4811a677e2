// CPU kernels against double-precision references: matmul over odd shapes for fp32/fp16/bf16
// weights (AVX2 and scalar paths, bias, residual accumulate, guard columns untouched), RMSNorm,
// and paged attention with GQA, scattered pages and a sliding window.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/cpu_matmul.h"
#include "backend/cpu/cpu_ops.h"
#include "util/half.h"

namespace nibble {
namespace {

CpuMatrix random_matrix(std::mt19937& rng, CpuWeightType type, int N, int K, bool bias) {
  CpuMatrix m;
  m.type = type;
  m.N = N;
  m.K = K;
  std::normal_distribution<float> d(0.0f, 1.0f);
  const std::size_t n = static_cast<std::size_t>(N) * K;
  if (type == CpuWeightType::f32) {
    for (std::size_t i = 0; i < n; ++i) m.full.push_back(d(rng));
  } else {
    for (std::size_t i = 0; i < n; ++i) m.half.push_back(type == CpuWeightType::f16 ? fp32_to_fp16(d(rng)) : fp32_to_bf16(d(rng)));
  }
  if (bias)
    for (int i = 0; i < N; ++i) m.bias.push_back(d(rng));
  return m;
}

double weight(const CpuMatrix& m, std::size_t i) {
  if (m.type == CpuWeightType::f32) return m.full[i];
  return m.type == CpuWeightType::f16 ? fp16_to_fp32(m.half[i]) : bf16_to_fp32(m.half[i]);
}

struct MatmulCase {
  int M, N, K, ldx, ldy;
  bool accumulate;
  std::vector<float> x, y0;
};

MatmulCase make_case(std::mt19937& rng, int M, int N, int K, bool accumulate) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  MatmulCase c{M, N, K, K + 3, N + 5, accumulate, {}, {}};  // +3/+5: guard columns
  c.x.resize(static_cast<std::size_t>(M) * c.ldx);
  c.y0.resize(static_cast<std::size_t>(M) * c.ldy);
  for (auto& v : c.x) v = d(rng);
  for (auto& v : c.y0) v = d(rng);
  return c;
}

// Worst |y - reference| in units of the tolerance 1e-5 * (sum |x w| + 1); guard columns must be
// untouched (returns infinity otherwise).
double worst_error(const CpuMatrix& w, const MatmulCase& c, const std::vector<float>& y) {
  double worst = 0;
  for (int m = 0; m < c.M; ++m)
    for (int n = 0; n < c.ldy; ++n) {
      const std::size_t at = static_cast<std::size_t>(m) * c.ldy + n;
      if (n >= c.N) {
        if (y[at] != c.y0[at]) return INFINITY;
        continue;
      }
      double ref = 0, mag = 0;
      for (int k = 0; k < c.K; ++k) {
        const double p = c.x[static_cast<std::size_t>(m) * c.ldx + k] * weight(w, static_cast<std::size_t>(n) * c.K + k);
        ref += p;
        mag += std::fabs(p);
      }
      if (!w.bias.empty()) ref += w.bias[static_cast<std::size_t>(n)];
      if (c.accumulate) ref += c.y0[at];
      worst = std::max(worst, std::fabs(y[at] - ref) / (1e-5 * (mag + 1.0)));
    }
  return worst;
}

std::vector<float> run(const CpuMatrix& w, const MatmulCase& c, ThreadPool& pool, bool scalar = false) {
  std::vector<float> y = c.y0;
  cpu_matmul(w, {c.x.data(), c.ldx, y.data(), c.ldy, c.M, c.accumulate, scalar}, pool);
  return y;
}

TEST(CpuMatmul, OddShapesEveryWeightType) {
  ThreadPool pool(2);
  std::mt19937 rng(12);
  for (bool scalar : {false, true}) {
    for (auto type : {CpuWeightType::f32, CpuWeightType::f16, CpuWeightType::bf16})
      for (int M : {1, 2, 3, 33})
        for (int N : {1, 3, 4, 5, 17})
          for (int K : {1, 7, 8, 9, 33, 100}) {
            const CpuMatrix w = random_matrix(rng, type, N, K, (M + N) % 2 == 0);
            const MatmulCase c = make_case(rng, M, N, K, K % 2 == 1);
            ASSERT_LT(worst_error(w, c, run(w, c, pool, scalar)), 1.0)
                << "M " << M << " N " << N << " K " << K << (scalar ? " scalar" : " simd");
          }
    const CpuMatrix big = random_matrix(rng, CpuWeightType::f16, 300, 384, true);  // large enough to go parallel
    const MatmulCase c = make_case(rng, 70, 300, 384, true);
    EXPECT_LT(worst_error(big, c, run(big, c, pool, scalar)), 1.0);
  }
  std::printf("matmul kernel: %s\n", cpu_matmul_kernel_name());
}

TEST(CpuMatmul, CheckerCatchesAWrongResult) {
  ThreadPool pool(1);
  std::mt19937 rng(13);
  CpuMatrix w = random_matrix(rng, CpuWeightType::f32, 5, 33, true);
  const MatmulCase c = make_case(rng, 3, 5, 33, false);
  const auto y = run(w, c, pool);
  EXPECT_LT(worst_error(w, c, y), 1.0);
  w.full[40] += 0.01f;  // one weight off: the same y no longer passes
  EXPECT_GT(worst_error(w, c, y), 1.0);
  auto spill = y;
  spill[5] += 1.0f;  // a write into a guard column
  EXPECT_EQ(worst_error(w, c, spill), INFINITY);
}

TEST(CpuOps, RmsNorm) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> x(384), w(384), out(384);
  for (auto& v : x) v = d(rng);
  for (auto& v : w) v = 1.0f + 0.1f * d(rng);
  cpu_rmsnorm(x.data(), w.data(), out.data(), 384, 1e-5f);
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const double inv = 1.0 / std::sqrt(ss / 384 + 1e-5);
  for (int i = 0; i < 384; ++i) EXPECT_NEAR(out[static_cast<std::size_t>(i)], w[static_cast<std::size_t>(i)] * x[static_cast<std::size_t>(i)] * inv, 1e-5);
}

// Naive attention over positions [lo, p] for one row and head, from contiguous K/V.
std::vector<double> naive_attention(const std::vector<float>& q, const std::vector<std::vector<float>>& k,
                                    const std::vector<std::vector<float>>& v, int lo, int p, float scale) {
  std::vector<double> s;
  double mx = -1e300;
  for (int j = lo; j <= p; ++j) {
    double dot = 0;
    for (std::size_t d = 0; d < q.size(); ++d) dot += static_cast<double>(q[d]) * k[static_cast<std::size_t>(j)][d];
    s.push_back(dot * scale);
    mx = std::max(mx, s.back());
  }
  double sum = 0;
  for (auto& e : s) sum += (e = std::exp(e - mx));
  std::vector<double> out(q.size(), 0.0);
  for (int j = lo; j <= p; ++j)
    for (std::size_t d = 0; d < q.size(); ++d) out[d] += s[static_cast<std::size_t>(j - lo)] / sum * v[static_cast<std::size_t>(j)][d];
  return out;
}

TEST(CpuOps, PagedAttentionWithGqaAndWindow) {
  ThreadPool pool(2);
  std::mt19937 rng(4);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int heads = 4, kv_heads = 2, hd = 8, page = 4, n_pages = 8;
  for (int window : {0, 3}) {
    AttentionShape s{heads, kv_heads, hd, page, window, 1.0f / std::sqrt(8.0f)};
    std::vector<float> kc(static_cast<std::size_t>(n_pages) * page * kv_heads * hd), vc(kc.size());
    // One sequence: 6 cached positions from earlier steps, 5 new rows now; pages scattered.
    const std::vector<std::int32_t> pages = {6, 1, 3};
    const int past = 6, rows = 5, ld = (heads + 2 * kv_heads) * hd;
    std::vector<std::vector<float>> K(static_cast<std::size_t>(past + rows) * kv_heads, std::vector<float>(hd)), V = K;
    for (int pos = 0; pos < past + rows; ++pos)
      for (int h = 0; h < kv_heads; ++h) {
        auto& kk = K[static_cast<std::size_t>(pos * kv_heads + h)];
        auto& vv = V[static_cast<std::size_t>(pos * kv_heads + h)];
        for (int i = 0; i < hd; ++i) {
          kk[static_cast<std::size_t>(i)] = d(rng);
          vv[static_cast<std::size_t>(i)] = d(rng);
        }
        if (pos < past) {  // already in the cache
          const std::size_t off = ((static_cast<std::size_t>(pages[static_cast<std::size_t>(pos / page)]) * page + pos % page) * kv_heads + h) * hd;
          std::copy(kk.begin(), kk.end(), kc.begin() + static_cast<std::ptrdiff_t>(off));
          std::copy(vv.begin(), vv.end(), vc.begin() + static_cast<std::ptrdiff_t>(off));
        }
      }
    std::vector<float> qkv(static_cast<std::size_t>(rows) * ld), out(static_cast<std::size_t>(rows) * heads * hd);
    for (int r = 0; r < rows; ++r) {
      float* row = qkv.data() + static_cast<std::size_t>(r) * ld;
      for (int i = 0; i < heads * hd; ++i) row[i] = d(rng);
      for (int h = 0; h < kv_heads; ++h)
        for (int i = 0; i < hd; ++i) {
          row[heads * hd + h * hd + i] = K[static_cast<std::size_t>((past + r) * kv_heads + h)][static_cast<std::size_t>(i)];
          row[heads * hd + kv_heads * hd + h * hd + i] = V[static_cast<std::size_t>((past + r) * kv_heads + h)][static_cast<std::size_t>(i)];
        }
    }
    std::vector<std::int32_t> tokens(rows, 0), positions;
    for (int r = 0; r < rows; ++r) positions.push_back(past + r);
    BatchPlan plan;
    plan.tokens = tokens;
    plan.positions = positions;
    plan.page_size = page;
    plan.seqs.push_back({0, rows, past, pages});
    cpu_attention(plan, s, {kc.data(), vc.data()}, qkv.data(), ld, out.data(), pool);
    for (int r = 0; r < rows; ++r)
      for (int h = 0; h < heads; ++h) {
        const int kvh = h / (heads / kv_heads), p = past + r, lo = window ? std::max(0, p - window + 1) : 0;
        std::vector<float> q(qkv.begin() + r * ld + h * hd, qkv.begin() + r * ld + (h + 1) * hd);
        std::vector<std::vector<float>> kh, vh;
        for (int pos = 0; pos <= p; ++pos) {
          kh.push_back(K[static_cast<std::size_t>(pos * kv_heads + kvh)]);
          vh.push_back(V[static_cast<std::size_t>(pos * kv_heads + kvh)]);
        }
        const auto want = naive_attention(q, kh, vh, lo, p, s.scale);
        for (int i = 0; i < hd; ++i)
          EXPECT_NEAR(out[static_cast<std::size_t>(r * heads * hd + h * hd + i)], want[static_cast<std::size_t>(i)], 1e-5)
              << "window " << window << " row " << r << " head " << h;
      }
  }
}

}  // namespace
}  // namespace nibble
