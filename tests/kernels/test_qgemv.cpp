// Quantized GEMV against the CPU dequantizer (engine/formats) over random EXL2 layers of every bit
// width with mixed groups and random permutations, random GPTQ layers (act-order, asymmetric),
// 1-32 rows, padded N, K not a multiple of 128, and every input/output mode. Outputs are poisoned
// (NaN) before each launch.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "backend/cuda/cuda_linear.h"
#include "formats/exl2.h"
#include "formats/gptq.h"
#include "gpu_test_util.h"
#include "nibble_kernels/dequant.h"
#include "nibble_kernels/qgemv.h"

namespace nibble {
namespace {

using gpu_test::Dev;

struct Layer {
  Exl2Packed exl2;
  GptqPacked gptq;
  LinearDesc desc;
  std::vector<float> w;  // [N][K] from the CPU dequantizer
};

// Random EXL2 layer: widths non-increasing, group rows a multiple of 32 (16 allowed for 2-bit), or
// all `fixed_rows` rows (a uniform layout when every width is 4).
Layer make_exl2(std::mt19937& rng, int K, int N, const std::vector<int>& widths_pool, int fixed_rows = 0) {
  Exl2Unpacked u;
  u.K = K;
  u.N = N;
  int left = K;
  std::vector<int> widths = widths_pool;
  std::sort(widths.rbegin(), widths.rend());
  std::size_t wi = 0;
  while (left > 0) {
    const int bits = widths[std::min(wi, widths.size() - 1)];
    if (rng() % 3 == 0 && wi + 1 < widths.size()) ++wi;
    const int unit = bits == 2 ? 16 : 32;
    const int options[] = {unit, 32, 64, 128};
    int rows = fixed_rows > 0 ? fixed_rows : options[rng() % 4];
    rows = std::max(unit, rows / unit * unit);
    rows = std::min(rows, left);
    u.group_bits.push_back(bits);
    u.group_rows.push_back(rows);
    left -= rows;
  }
  const int G = static_cast<int>(u.group_bits.size());
  u.codes.resize(static_cast<std::size_t>(K) * N);
  int k = 0;
  for (int g = 0; g < G; ++g)
    for (int r = 0; r < u.group_rows[g]; ++r, ++k)
      for (int n = 0; n < N; ++n) u.codes[static_cast<std::size_t>(k) * N + n] = static_cast<std::uint8_t>(rng() % (1u << u.group_bits[g]));
  u.scale_codes.resize(static_cast<std::size_t>(G) * N);
  for (auto& c : u.scale_codes) c = static_cast<std::uint8_t>(rng() % 16);
  for (int g = 0; g < G; ++g) u.scale_max.push_back(fp32_to_fp16(0.01f + 0.02f * (rng() % 100) / 100.0f));
  u.perm.resize(static_cast<std::size_t>(K));
  std::iota(u.perm.begin(), u.perm.end(), 0);
  std::shuffle(u.perm.begin(), u.perm.end(), rng);
  Layer L;
  auto packed = exl2_pack(u);
  EXPECT_TRUE(packed.ok()) << packed.error().to_string();
  L.exl2 = std::move(packed).value();
  L.desc.name = "test.exl2";
  L.desc.format = LinearFormat::exl2;
  L.desc.K = K;
  L.desc.N = N;
  L.desc.exl2 = L.exl2.views("test.exl2");
  L.w.resize(static_cast<std::size_t>(K) * N);
  const Status st = dequantize_linear(L.desc, L.w.data());
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  return L;
}

Layer make_gptq(std::mt19937& rng, int K, int N, int group, bool act_order, bool v2) {
  GptqUnpacked u;
  u.K = K;
  u.N = N;
  u.bits = 4;
  u.group_size = group;
  u.v2 = v2;
  const int G = K / group;
  u.codes.resize(static_cast<std::size_t>(K) * N);
  for (auto& c : u.codes) c = static_cast<std::uint8_t>(rng() % 16);
  u.zeros.resize(static_cast<std::size_t>(G) * N);
  for (auto& z : u.zeros) z = static_cast<std::uint16_t>(v2 ? rng() % 16 : 1 + rng() % 15);
  u.scales.resize(static_cast<std::size_t>(G) * N);
  for (auto& s : u.scales) s = fp32_to_fp16(0.002f + 0.004f * (rng() % 100) / 100.0f);
  if (act_order) {
    u.g_idx.resize(static_cast<std::size_t>(K));
    for (int k = 0; k < K; ++k) u.g_idx[k] = k / group;
    std::shuffle(u.g_idx.begin(), u.g_idx.end(), rng);
  }
  Layer L;
  auto packed = gptq_pack(u);
  EXPECT_TRUE(packed.ok()) << packed.error().to_string();
  L.gptq = std::move(packed).value();
  L.desc.name = "test.gptq";
  L.desc.format = LinearFormat::gptq;
  L.desc.K = K;
  L.desc.N = N;
  L.desc.gptq = L.gptq.views("test.gptq", v2, group);
  L.w.resize(static_cast<std::size_t>(K) * N);
  const Status st = dequantize_linear(L.desc, L.w.data());
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  return L;
}

// y[r][n] = sum_k W[n][k] x[r][k] in double.
std::vector<double> reference(const Layer& L, const std::vector<float>& x, int rows) {
  const int K = L.desc.K, N = L.desc.N;
  std::vector<double> y(static_cast<std::size_t>(rows) * N, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int n = 0; n < N; ++n) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += static_cast<double>(L.w[static_cast<std::size_t>(n) * K + k]) * x[static_cast<std::size_t>(r) * K + k];
      y[static_cast<std::size_t>(r) * N + n] = s;
    }
  return y;
}

struct Workspace {
  Dev<float> ws{1 << 22, false};
  Dev<unsigned> counters{1 << 14, false};
  Workspace() { cudaMemset(counters.p, 0, counters.n * sizeof(unsigned)); }
};

// One matrix, fp16 input [rows, k] at x, output [rows, ld] at out (store_fp32 unless changed).
kernels::QGemvArgs one_matrix(const kernels::QMatrix& m, void* out, int ld, const void* x, int rows, Workspace& w) {
  kernels::QGemvArgs a;
  a.m[0] = m;
  a.target[0] = {out, ld};
  a.x = x;
  a.ldx = m.k;
  a.rows = rows;
  a.workspace = w.ws.p;
  a.counters = w.counters.p;
  return a;
}

// Runs one matrix with fp16 input and store_fp32 output; returns the normalised error.
double run_store(const Layer& L, int rows, std::mt19937& rng, Workspace& w) {
  auto dl = cuda::upload_linear(L.desc, 132);
  EXPECT_TRUE(dl.ok()) << dl.error().to_string();
  if (!dl.ok()) return INFINITY;
  const int K = L.desc.K, N = L.desc.N;
  std::vector<std::uint16_t> xh = gpu_test::random_halves(rng, static_cast<std::size_t>(rows) * K, 1.0f);
  Dev<std::uint16_t> x(xh);
  Dev<float> y(static_cast<std::size_t>(rows) * N);
  const kernels::QGemvArgs a = one_matrix(dl->quant, y.p, N, x.p, rows, w);
  EXPECT_LE(kernels::qgemv_workspace_floats(a), w.ws.n);
  EXPECT_EQ(kernels::qgemv(a, nullptr), 0);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return gpu_test::rel_l2(y.get(), reference(L, gpu_test::halves_to_float(xh), rows));
}

TEST(QGemv, Exl2EveryWidthAlone) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(11);
  Workspace w;
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int rows : {1, 3, 8, 16}) {
      Layer L = make_exl2(rng, 256, 200, {bits});
      const double err = run_store(L, rows, rng, w);
      EXPECT_LT(err, 4e-3) << bits << "-bit, rows " << rows;
    }
  }
}

TEST(QGemv, Exl2MixedGroupsOddShapes) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(12);
  Workspace w;
  const int shapes[][2] = {{352, 8}, {384, 1024}, {1024, 384}, {4096, 136}, {96, 4104}};
  for (const auto& s : shapes) {
    Layer L = make_exl2(rng, s[0], s[1], {8, 6, 5, 4, 3, 2});
    for (int rows : {1, 2, 5, 11}) {
      const double err = run_store(L, rows, rng, w);
      EXPECT_LT(err, 4e-3) << "K " << s[0] << " N " << s[1] << " rows " << rows;
    }
  }
}

TEST(QGemv, GptqActOrderAsymmetric) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(13);
  Workspace w;
  for (bool act : {false, true})
    for (bool v2 : {false, true}) {
      Layer L = make_gptq(rng, 512, 264, 128, act, v2);
      for (int rows : {1, 4, 16}) {
        const double err = run_store(L, rows, rng, w);
        EXPECT_LT(err, 4e-3) << "act-order " << act << " v2 " << v2 << " rows " << rows;
      }
    }
}

// The uniform 4-bit kernel's wide passes (9-16 rows: two n8 products per decoded fragment, 17-32:
// four): EXL2 and GPTQ (symmetric and with zero points), padded N, every row count class.
TEST(QGemv, UniformFourBitWideRows) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(17);
  Workspace w;
  std::vector<Layer> layers;
  layers.push_back(make_exl2(rng, 4096, 264, {4}, 64));
  layers.push_back(make_gptq(rng, 2048, 200, 128, false, false));
  layers.push_back(make_gptq(rng, 2048, 136, 32, false, true));
  for (std::size_t li = 0; li < layers.size(); ++li) {
    auto dl = cuda::upload_linear(layers[li].desc, 132);
    ASSERT_TRUE(dl.ok());
    ASSERT_EQ(dl->quant.uniform_bits, 4) << "layer " << li;
    for (int rows : {2, 9, 16, 17, 24, 32}) {
      const double err = run_store(layers[li], rows, rng, w);
      EXPECT_LT(err, 4e-3) << "layer " << li << " rows " << rows;
    }
  }
}

// The fused modes: RMSNorm input, residual add, three matrices in one launch, SiLU-gated pair; mixed
// widths (the slab kernel, passes of 8 rows) or uniform 4-bit groups of 128 (one wide pass).
void fused_modes(int rows, bool uniform, std::mt19937& rng) {
  SCOPED_TRACE(testing::Message() << "rows " << rows << (uniform ? " uniform" : " mixed"));
  Workspace w;
  const int K = 384;
  const int fixed = uniform ? 128 : 0;
  Layer q = make_exl2(rng, K, 384, uniform ? std::vector<int>{4} : std::vector<int>{4, 3}, fixed);
  Layer k = make_exl2(rng, K, 128, uniform ? std::vector<int>{4} : std::vector<int>{6, 4}, fixed);
  Layer v = make_exl2(rng, K, 128, uniform ? std::vector<int>{4} : std::vector<int>{8, 2}, fixed);
  auto dq = cuda::upload_linear(q.desc, 132), dk = cuda::upload_linear(k.desc, 132), dv = cuda::upload_linear(v.desc, 132);
  ASSERT_TRUE(dq.ok() && dk.ok() && dv.ok());
  std::vector<float> h = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * K, 3.0f);
  std::vector<std::uint16_t> nw = gpu_test::random_halves(rng, K, 1.0f);
  // Reference normalised input (what the kernel stages, before its fp16 rounding).
  std::vector<float> xn(h.size());
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < K; ++i) ss += static_cast<double>(h[r * K + i]) * h[r * K + i];
    const double scale = 1.0 / std::sqrt(ss / K + 1e-5);
    for (int i = 0; i < K; ++i) xn[r * K + i] = static_cast<float>(h[r * K + i] * scale * fp16_to_fp32(nw[i]));
  }
  Dev<float> hd(h);
  Dev<std::uint16_t> nwd(nw);
  const int width = 384 + 128 + 128;
  Dev<float> y(static_cast<std::size_t>(rows) * width);
  kernels::QGemvArgs a;
  a.count = 3;
  a.m[0] = dq->quant;
  a.m[1] = dk->quant;
  a.m[2] = dv->quant;
  a.target[0] = {y.p, width};
  a.target[1] = {y.p + 384, width};
  a.target[2] = {y.p + 512, width};
  a.input = kernels::QGemvInput::fp32_rmsnorm;
  a.x = hd.p;
  a.ldx = K;
  a.norm_weight = reinterpret_cast<const __half*>(nwd.p);
  a.norm_eps = 1e-5f;
  a.rows = rows;
  a.workspace = w.ws.p;
  a.counters = w.counters.p;
  ASSERT_EQ(kernels::qgemv(a, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<float> got = y.get();
  const Layer* mats[3] = {&q, &k, &v};
  const int offs[3] = {0, 384, 512};
  for (int m = 0; m < 3; ++m) {
    const auto ref = reference(*mats[m], xn, rows);
    const int N = mats[m]->desc.N;
    std::vector<float> part(static_cast<std::size_t>(rows) * N);
    for (int r = 0; r < rows; ++r)
      for (int n = 0; n < N; ++n) part[r * N + n] = got[static_cast<std::size_t>(r) * width + offs[m] + n];
    EXPECT_LT(gpu_test::rel_l2(part, ref), 5e-3) << "matrix " << m;
  }

  // Residual add: out starts as h' and gains W x.
  std::vector<std::uint16_t> xh = gpu_test::random_halves(rng, static_cast<std::size_t>(rows) * K, 1.0f);
  Dev<std::uint16_t> x(xh);
  std::vector<float> base = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * 384, 1.0f);
  Dev<float> out(base);
  kernels::QGemvArgs b = one_matrix(dq->quant, out.p, 384, x.p, rows, w);
  b.output = kernels::QGemvOutput::add_fp32;
  ASSERT_EQ(kernels::qgemv(b, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto ref = reference(q, gpu_test::halves_to_float(xh), rows);
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i] += base[i];
  EXPECT_LT(gpu_test::rel_l2(out.get(), ref), 4e-3);

  // SiLU-gated pair -> fp16.
  Layer g = make_exl2(rng, K, 1024, {4}, fixed);
  Layer u = make_exl2(rng, K, 1024, uniform ? std::vector<int>{4} : std::vector<int>{4, 3}, fixed);
  auto dg = cuda::upload_linear(g.desc, 132), du = cuda::upload_linear(u.desc, 132);
  ASSERT_TRUE(dg.ok() && du.ok());
  Dev<std::uint16_t> act(static_cast<std::size_t>(rows) * 1024);
  kernels::QGemvArgs c;
  c.count = 2;
  c.m[0] = dg->quant;
  c.m[1] = du->quant;
  c.target[0] = c.target[1] = {act.p, 1024};
  c.output = kernels::QGemvOutput::silu_mul;
  c.x = x.p;
  c.ldx = K;
  c.rows = rows;
  c.workspace = w.ws.p;
  c.counters = w.counters.p;
  ASSERT_EQ(kernels::qgemv(c, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto rg = reference(g, gpu_test::halves_to_float(xh), rows);
  const auto ru = reference(u, gpu_test::halves_to_float(xh), rows);
  std::vector<double> rs(rg.size());
  for (std::size_t i = 0; i < rg.size(); ++i) rs[i] = rg[i] / (1.0 + std::exp(-rg[i])) * ru[i];
  EXPECT_LT(gpu_test::rel_l2(gpu_test::halves_to_float(act.get()), rs), 5e-3);
}

TEST(QGemv, FusedModes) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(14);
  fused_modes(3, false, rng);
  fused_modes(20, false, rng);
  fused_modes(3, true, rng);
  fused_modes(12, true, rng);
  fused_modes(29, true, rng);
}

// The RMSNorm statistic handed from a residual-adding GEMV to the next normalising one: the
// producer's per-32-column sums of squares match the updated rows, and a consumer reading them
// gives what it computes on its own (uniform 4-bit and mixed-width kernels, one and two passes).
TEST(QGemv, NormStatisticsHandOff) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(16);
  Workspace w;
  const int K = 512, H = 384;
  for (const std::vector<int>& widths : {std::vector<int>{4}, std::vector<int>{4, 3, 6}}) {
    for (int rows : {1, 3, 11, 20, 32}) {
      // Uniform 4-bit (groups of 128) or mixed widths and group sizes.
      const int fixed = widths.size() == 1 ? 128 : 0;
      Layer o = make_exl2(rng, K, H, widths, fixed);   // producer: attention output -> residual
      Layer g = make_exl2(rng, H, 256, widths, fixed);  // consumer: normalised residual in
      auto dop = cuda::upload_linear(o.desc, 132), dg = cuda::upload_linear(g.desc, 132);
      ASSERT_TRUE(dop.ok() && dg.ok());
      std::vector<std::uint16_t> xh = gpu_test::random_halves(rng, static_cast<std::size_t>(rows) * K, 1.0f);
      std::vector<float> base = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * H, 2.0f);
      Dev<std::uint16_t> x(xh);
      Dev<float> resid(base);
      Dev<float> stats(static_cast<std::size_t>(rows) * (H / 32));
      kernels::QGemvArgs a;
      a.m[0] = dop->quant;
      a.target[0] = {resid.p, H};
      a.output = kernels::QGemvOutput::add_fp32;
      a.x = x.p;
      a.ldx = K;
      a.rows = rows;
      a.workspace = w.ws.p;
      a.counters = w.counters.p;
      a.ss_out = stats.p;
      ASSERT_EQ(kernels::qgemv(a, nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<float> h = resid.get(), st = stats.get();
      for (int r = 0; r < rows; ++r)
        for (int j = 0; j < H / 32; ++j) {
          double want = 0;
          for (int i = 0; i < 32; ++i) want += static_cast<double>(h[r * H + 32 * j + i]) * h[r * H + 32 * j + i];
          EXPECT_NEAR(st[r * (H / 32) + j], want, 1e-5 * want + 1e-6) << "row " << r << " part " << j;
        }
      std::vector<std::uint16_t> nw = gpu_test::random_halves(rng, H, 1.0f);
      Dev<std::uint16_t> nwd(nw);
      auto consume = [&](const float* ss_in) {
        Dev<float> y(static_cast<std::size_t>(rows) * 256);
        kernels::QGemvArgs c;
        c.m[0] = dg->quant;
        c.target[0] = {y.p, 256};
        c.input = kernels::QGemvInput::fp32_rmsnorm;
        c.x = resid.p;
        c.ldx = H;
        c.norm_weight = reinterpret_cast<const __half*>(nwd.p);
        c.norm_eps = 1e-5f;
        c.rows = rows;
        c.workspace = w.ws.p;
        c.counters = w.counters.p;
        c.ss_in = ss_in;
        EXPECT_EQ(kernels::qgemv(c, nullptr), 0);
        EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        return y.get();
      };
      const std::vector<float> own = consume(nullptr), handed = consume(stats.p);
      std::vector<double> own_d(own.begin(), own.end());
      EXPECT_LT(gpu_test::rel_l2(handed, own_d), 1e-3) << "rows " << rows;
      std::vector<float> xn(h.size());
      for (int r = 0; r < rows; ++r) {
        double ss = 0;
        for (int i = 0; i < H; ++i) ss += static_cast<double>(h[r * H + i]) * h[r * H + i];
        const double scale = 1.0 / std::sqrt(ss / H + 1e-5);
        for (int i = 0; i < H; ++i) xn[r * H + i] = static_cast<float>(h[r * H + i] * scale * fp16_to_fp32(nw[i]));
      }
      EXPECT_LT(gpu_test::rel_l2(handed, reference(g, xn, rows)), 5e-3) << "rows " << rows;
    }
  }
  // The hand-off needs whole 32-column parts.
  Layer odd = make_exl2(rng, 256, 200, {4});
  auto dodd = cuda::upload_linear(odd.desc, 132);
  ASSERT_TRUE(dodd.ok());
  Dev<float> y(200), st(8);
  Dev<std::uint16_t> x(256);
  kernels::QGemvArgs bad;
  bad.m[0] = dodd->quant;
  bad.target[0] = {y.p, 200};
  bad.output = kernels::QGemvOutput::add_fp32;
  bad.x = x.p;
  bad.ldx = 256;
  bad.workspace = w.ws.p;
  bad.counters = w.counters.p;
  bad.ss_out = st.p;
  EXPECT_NE(kernels::qgemv(bad, nullptr), 0);
}

// Same inputs twice give bit-identical outputs (fixed-order split-K reduction), and a row's result
// does not depend on how many rows share the launch.
TEST(QGemv, DeterministicAndBatchInvariant) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(15);
  Workspace w;
  Layer L = make_exl2(rng, 4096, 512, {4});
  auto dl = cuda::upload_linear(L.desc, 132);
  ASSERT_TRUE(dl.ok());
  ASSERT_GT(dl->quant.n_splits, 1);
  const int K = 4096, N = 512;
  std::vector<std::uint16_t> xh = gpu_test::random_halves(rng, static_cast<std::size_t>(32) * K, 1.0f);
  Dev<std::uint16_t> x(xh);
  Layer U = make_exl2(rng, K, N, {4}, 128);  // the uniform 4-bit kernel (one, two and four n8 products)
  auto du = cuda::upload_linear(U.desc, 132);
  ASSERT_TRUE(du.ok());
  ASSERT_TRUE(du->quant.uniform_bits == 4 && du->quant.group_shift == 7);
  for (const kernels::QMatrix* m : {&dl->quant, &du->quant}) {
    auto run = [&](int rows) {
      Dev<float> y(static_cast<std::size_t>(rows) * N);
      EXPECT_EQ(kernels::qgemv(one_matrix(*m, y.p, N, x.p, rows, w), nullptr), 0);
      EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      return y.get();
    };
    // Mixed groups: passes of 8 rows, every row the same bits. Uniform 4-bit: rows 1-8 take the
    // narrow kernel and 9-32 the wide one; each is batch-invariant, and they agree to rounding.
    const bool uniform = m == &du->quant;
    const auto a32 = run(32), b32 = run(32), a8 = run(8);
    EXPECT_EQ(0, std::memcmp(a32.data(), b32.data(), a32.size() * 4));
    for (int rows : {1, 4, 5, 6, 9, 13, 16, 20, 31}) {
      const auto part = run(rows);
      const auto& same = uniform && rows <= 8 ? a8 : a32;
      EXPECT_EQ(0, std::memcmp(same.data(), part.data(), part.size() * 4)) << "rows " << rows;
    }
    std::vector<double> narrow(a8.begin(), a8.end());
    const std::vector<float> wide8(a32.begin(), a32.begin() + a8.size());
    EXPECT_LT(gpu_test::rel_l2(wide8, narrow), uniform ? 2e-3 : 1e-9);
  }
}

TEST(QGemv, RejectsBadArguments) {
  kernels::QGemvArgs a;
  EXPECT_NE(kernels::qgemv(a, nullptr), 0);  // no matrix, no input
  a.rows = 33;
  EXPECT_NE(kernels::qgemv(a, nullptr), 0);
}

// The prefill path's dequantization into fp16 [K, N] (rows back in input order) equals the CPU
// dequantizer rounded to fp16, bit for bit: every EXL2 width, GPTQ act-order and asymmetric, a
// column sub-range whose length is not a multiple of 8 written at an offset (16-byte path), and an
// odd offset (the per-column path); columns outside the range stay untouched.
TEST(QGemv, DequantizeMatchesCpu) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(31);
  std::vector<Layer> layers;
  layers.push_back(make_exl2(rng, 512, 264, {8, 6, 5, 4, 3, 2}));
  layers.push_back(make_exl2(rng, 384, 136, {5, 3, 2}));
  layers.push_back(make_gptq(rng, 512, 264, 128, true, false));
  layers.push_back(make_gptq(rng, 256, 136, 64, false, true));
  layers.push_back(make_exl2(rng, 400, 136, {4, 2}));  // K not a multiple of the 32-row blocks
  // Uniform 4-bit groups (the prefill's common case, its own kernel): permuted EXL2 groups of 128
  // and 32 rows; the GPTQ layers above are uniform too (with and without zero points).
  layers.push_back(make_exl2(rng, 512, 1160, {4}, 128));
  layers.push_back(make_exl2(rng, 256, 264, {4}, 32));
  for (std::size_t li = 0; li < layers.size(); ++li) {
    const Layer& L = layers[li];
    const int K = L.desc.K, N = L.desc.N;
    auto dl = cuda::upload_linear(L.desc, 132);
    ASSERT_TRUE(dl.ok()) << dl.error().to_string();
    if (li >= 5) ASSERT_TRUE(dl->quant.uniform_bits == 4 && dl->quant.group_shift >= 5) << "layer " << li;
    struct Case {
      int n_begin, n_count, ldo, col;
    };
    const Case cases[] = {{0, N, N, 0}, {8, N - 11, N + 16, 16}, {0, N, N + 5, 3}};
    for (const Case& c : cases) {
      Dev<std::uint16_t> out(std::vector<std::uint16_t>(static_cast<std::size_t>(K) * c.ldo, 0x7e00));
      ASSERT_EQ(kernels::qmatrix_dequant_f16(dl->quant, c.n_begin, c.n_count, reinterpret_cast<__half*>(out.p), c.ldo,
                                             c.col, nullptr),
                0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<std::uint16_t> got = out.get();
      int bad = 0;
      for (int k = 0; k < K; ++k)
        for (int j = 0; j < c.ldo; ++j) {
          const int n = c.n_begin + (j - c.col);
          const bool inside = j >= c.col && j < c.col + c.n_count;
          const std::uint16_t want =
              inside ? fp32_to_fp16(L.w[static_cast<std::size_t>(n) * K + k]) : static_cast<std::uint16_t>(0x7e00);
          if (got[static_cast<std::size_t>(k) * c.ldo + j] != want && bad++ < 5)
            ADD_FAILURE() << "layer " << li << " offset " << c.col << " k " << k << " col " << j;
        }
      EXPECT_EQ(bad, 0) << "layer " << li << " offset " << c.col;
    }
  }
}

}  // namespace
}  // namespace nibble
