// Dense GEMV, dequantize + cuBLAS GEMM, RMSNorm, embedding, SiLU and bias kernels against
// straightforward double-precision references on random inputs (outputs poisoned first).
#include <gtest/gtest.h>

#include <cublas_v2.h>

#include "backend/cuda/cuda_linear.h"
#include "formats/exl2.h"
#include "gpu_test_util.h"
#include "nibble_kernels/dequant.h"
#include "nibble_kernels/dgemv.h"
#include "nibble_kernels/gemm.h"
#include "nibble_kernels/ops.h"

namespace nibble {
namespace {

using gpu_test::Dev;

// Against a double-precision reference: fp16 and bf16 weights, K with a partial 32-chunk, N not a
// multiple of 16 and large enough that the persistent blocks take several units, 1-13 rows (passes of 8), an fp16 input read in place and one whose row stride
// forces the shared-memory copy, the RMSNorm input (rounded to fp16 after normalising, as
// transformers does), the residual add and the SiLU pair.
TEST(DGemv, StoreAddAndPairModes) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(21);
  for (const auto type : {kernels::WeightType::fp16, kernels::WeightType::bf16})
    for (const auto& [K, N] : {std::pair{264, 9001}, std::pair{1096, 301}})  // 9,001: several units per block
      for (int rows : {1, 2, 7, 8, 13}) {
        const bool bf = type == kernels::WeightType::bf16;
        auto rand_w = [&]() {
          std::vector<std::uint16_t> w(static_cast<std::size_t>(N) * K);
          std::normal_distribution<float> nd(0.0f, 0.05f);
          for (auto& v : w) v = bf ? fp32_to_bf16(nd(rng)) : fp32_to_fp16(nd(rng));
          return w;
        };
        auto to_f = [&](const std::vector<std::uint16_t>& w) {
          std::vector<float> f(w.size());
          for (std::size_t i = 0; i < w.size(); ++i) f[i] = bf ? bf16_to_fp32(w[i]) : fp16_to_fp32(w[i]);
          return f;
        };
        auto w = rand_w(), w2 = rand_w();
        const int ldx_wide = K + 4;  // not a multiple of 8: the input is copied to shared memory
        auto xh = gpu_test::random_halves(rng, static_cast<std::size_t>(rows) * ldx_wide, 1.0f);
        auto hf = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * K, 2.0f);
        auto nw = gpu_test::random_halves(rng, K, 1.0f);
        std::vector<std::uint16_t> xpacked(static_cast<std::size_t>(rows) * K);
        for (int r = 0; r < rows; ++r)
          for (int i = 0; i < K; ++i) xpacked[r * K + i] = xh[r * ldx_wide + i];
        Dev<std::uint16_t> wd(w), w2d(w2), xd(xpacked), xwd(xh), nwd(nw);
        Dev<float> hd(hf);
        const auto wf = to_f(w), w2f = to_f(w2), xf = gpu_test::halves_to_float(xpacked);
        auto ref = [&](const std::vector<float>& W, const std::vector<float>& X) {
          std::vector<double> y(static_cast<std::size_t>(rows) * N);
          for (int r = 0; r < rows; ++r)
            for (int n = 0; n < N; ++n) {
              double s = 0;
              for (int k = 0; k < K; ++k) s += static_cast<double>(W[n * K + k]) * X[r * K + k];
              y[r * N + n] = s;
            }
          return y;
        };
        const std::string where = std::string(bf ? "bf16" : "fp16") + " K=" + std::to_string(K) + " rows=" + std::to_string(rows);
        // store_fp32 from an fp16 input, read in place and copied to shared memory
        Dev<float> y(static_cast<std::size_t>(rows) * N);
        kernels::DGemvArgs a;
        a.m[0] = {wd.p, type, nullptr, K, N};
        a.target[0] = {y.p, N};
        a.x = xd.p;
        a.ldx = K;
        a.rows = rows;
        y.poison();
        ASSERT_EQ(kernels::dgemv(a, nullptr), 0);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const auto y_ref = ref(wf, xf);
        EXPECT_LT(gpu_test::rel_l2(y.get(), y_ref), 1e-5) << where;
        a.x = xwd.p;
        a.ldx = ldx_wide;
        y.poison();
        ASSERT_EQ(kernels::dgemv(a, nullptr), 0);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        EXPECT_LT(gpu_test::rel_l2(y.get(), y_ref), 1e-5) << where << " (copied input)";
        // add_fp32 onto a known residual
        {
          auto base = gpu_test::random_floats(rng, static_cast<std::size_t>(rows) * N, 1.0f);
          Dev<float> yr(base);
          kernels::DGemvArgs ad = a;
          ad.target[0] = {yr.p, N};
          ad.output = kernels::QGemvOutput::add_fp32;
          ASSERT_EQ(kernels::dgemv(ad, nullptr), 0);
          ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
          std::vector<double> want(y_ref);
          for (std::size_t i = 0; i < want.size(); ++i) want[i] += base[i];
          EXPECT_LT(gpu_test::rel_l2(yr.get(), want), 1e-5) << where << " (add)";
        }
        // RMSNorm input: normalised, then rounded to fp16
        std::vector<float> xn(hf.size());
        for (int r = 0; r < rows; ++r) {
          double ss = 0;
          for (int i = 0; i < K; ++i) ss += double(hf[r * K + i]) * hf[r * K + i];
          const double sc = 1.0 / std::sqrt(ss / K + 1e-6);
          for (int i = 0; i < K; ++i) xn[r * K + i] = fp16_to_fp32(fp32_to_fp16(float(hf[r * K + i] * sc * fp16_to_fp32(nw[i]))));
        }
        a.input = kernels::QGemvInput::fp32_rmsnorm;
        a.x = hd.p;
        a.ldx = K;
        a.norm_weight = reinterpret_cast<const __half*>(nwd.p);
        a.norm_eps = 1e-6f;
        y.poison();
        ASSERT_EQ(kernels::dgemv(a, nullptr), 0);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        // The kernel normalises in fp32 (rsqrtf): a few values may round to the neighbouring fp16.
        EXPECT_LT(gpu_test::rel_l2(y.get(), ref(wf, xn)), 5e-5) << where << " (RMSNorm input)";
        // silu pair
        Dev<std::uint16_t> act(static_cast<std::size_t>(rows) * N);
        kernels::DGemvArgs p = a;
        p.count = 2;
        p.m[1] = {w2d.p, type, nullptr, K, N};
        p.target[0] = p.target[1] = {act.p, N};
        p.output = kernels::QGemvOutput::silu_mul;
        act.poison();
        ASSERT_EQ(kernels::dgemv(p, nullptr), 0);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        auto g = ref(wf, xn), u = ref(w2f, xn);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
        EXPECT_LT(gpu_test::rel_l2(gpu_test::halves_to_float(act.get()), g), 2e-3) << where << " (SiLU pair)";
      }
}

TEST(Gemm, DequantizedExl2MatchesCpu) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(22);
  // A mixed-width EXL2 layer through dequantize + cuBLAS, with the permutation undone.
  Exl2Unpacked u;
  u.K = 256;
  u.N = 136;
  u.group_bits = {8, 4, 4, 3};
  u.group_rows = {32, 64, 128, 32};
  u.codes.resize(static_cast<std::size_t>(u.K) * u.N);
  int k = 0;
  for (int g = 0; g < 4; ++g)
    for (int r = 0; r < u.group_rows[g]; ++r, ++k)
      for (int n = 0; n < u.N; ++n) u.codes[k * u.N + n] = static_cast<std::uint8_t>(rng() % (1u << u.group_bits[g]));
  u.scale_codes.resize(4 * u.N);
  for (auto& c : u.scale_codes) c = static_cast<std::uint8_t>(rng() % 16);
  u.scale_max = {fp32_to_fp16(0.02f), fp32_to_fp16(0.03f), fp32_to_fp16(0.01f), fp32_to_fp16(0.05f)};
  u.perm.resize(u.K);
  for (int i = 0; i < u.K; ++i) u.perm[i] = (i * 97) % u.K;
  auto packed = exl2_pack(u);
  ASSERT_TRUE(packed.ok());
  LinearDesc d;
  d.name = "t";
  d.format = LinearFormat::exl2;
  d.K = u.K;
  d.N = u.N;
  d.exl2 = packed->views("t");
  std::vector<float> w(static_cast<std::size_t>(u.K) * u.N);
  ASSERT_TRUE(dequantize_linear(d, w.data()).ok());
  auto dl = cuda::upload_linear(d, 132);
  ASSERT_TRUE(dl.ok());
  Dev<std::uint16_t> scratch(static_cast<std::size_t>(u.K) * u.N);
  ASSERT_EQ(kernels::qmatrix_dequant_f16(dl->quant, 0, u.N, reinterpret_cast<__half*>(scratch.p), u.N, 0, nullptr), 0);
  const auto ws = gpu_test::halves_to_float(scratch.get());
  for (int kk = 0; kk < u.K; ++kk)
    for (int n = 0; n < u.N; ++n)
      ASSERT_EQ(ws[kk * u.N + n], fp16_to_fp32(fp32_to_fp16(w[n * u.K + kk]))) << kk << "," << n;
  const int M = 37;
  auto xh = gpu_test::random_halves(rng, static_cast<std::size_t>(M) * u.K, 1.0f);
  Dev<std::uint16_t> x(xh);
  Dev<float> y(static_cast<std::size_t>(M) * u.N);
  cublasHandle_t h;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  kernels::GemmArgs g;
  g.m = M;
  g.n = u.N;
  g.k = u.K;
  g.a = reinterpret_cast<const __half*>(x.p);
  g.lda = u.K;
  g.b = reinterpret_cast<const __half*>(scratch.p);
  g.ldb = u.N;
  g.c = y.p;
  g.ldc = u.N;
  ASSERT_EQ(kernels::gemm_f16(h, g, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cublasDestroy(h);
  std::vector<double> ref(static_cast<std::size_t>(M) * u.N);
  const auto xf = gpu_test::halves_to_float(xh);
  for (int r = 0; r < M; ++r)
    for (int n = 0; n < u.N; ++n) {
      double s = 0;
      for (int kk = 0; kk < u.K; ++kk) s += double(ws[kk * u.N + n]) * xf[r * u.K + kk];
      ref[r * u.N + n] = s;
    }
  EXPECT_LT(gpu_test::rel_l2(y.get(), ref), 1e-4);
}

TEST(Ops, RmsNormEmbedSiluBias) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(23);
  const int rows = 5, n = 392;
  auto x = gpu_test::random_floats(rng, rows * n, 3.0f);
  auto w = gpu_test::random_halves(rng, n, 1.0f);
  Dev<float> xd(x);
  Dev<std::uint16_t> wd(w), out(rows * n);
  ASSERT_EQ(kernels::rms_norm_f16(xd.p, n, reinterpret_cast<const __half*>(wd.p), 1e-5f, rows, n, reinterpret_cast<__half*>(out.p), n, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<double> ref(rows * n);
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
    for (int i = 0; i < n; ++i) ref[r * n + i] = x[r * n + i] / std::sqrt(ss / n + 1e-5) * fp16_to_fp32(w[i]);
  }
  EXPECT_LT(gpu_test::rel_l2(gpu_test::halves_to_float(out.get()), ref), 1e-3);

  const int vocab = 50;
  auto table = gpu_test::random_halves(rng, vocab * n, 1.0f);
  Dev<std::uint16_t> td(table);
  std::vector<int> ids = {3, 49, 0, 7, 3};
  Dev<int> idd(ids);
  Dev<float> emb(rows * n);
  ASSERT_EQ(kernels::embed_rows(td.p, kernels::WeightType::fp16, vocab, n, idd.p, rows, emb.p, nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto e = emb.get();
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < n; ++i) ASSERT_EQ(e[r * n + i], fp16_to_fp32(table[ids[r] * n + i]));

  auto a = gpu_test::random_floats(rng, rows * n, 2.0f);
  auto ah = gpu_test::random_halves(rng, rows * n, 2.0f), bh = gpu_test::random_halves(rng, rows * n, 2.0f);
  Dev<float> ad(a);
  Dev<std::uint16_t> ahd(ah), bhd(bh);
  Dev<std::uint16_t> act(rows * n);
  ASSERT_EQ(kernels::silu_mul_f16(reinterpret_cast<const __half*>(ahd.p), n, reinterpret_cast<const __half*>(bhd.p), n,
                                  nullptr, nullptr, rows, n, reinterpret_cast<__half*>(act.p), n, nullptr), 0);
  ASSERT_EQ(kernels::add_bias_f32(ad.p, n, rows, n, reinterpret_cast<const __half*>(wd.p), nullptr), 0);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<double> sref(rows * n), bref(rows * n);
  for (int i = 0; i < rows * n; ++i) {
    const double g = fp16_to_fp32(ah[i]), u = fp16_to_fp32(bh[i]);
    sref[i] = g / (1 + std::exp(-g)) * u;
    bref[i] = double(a[i]) + fp16_to_fp32(w[i % n]);
  }
  EXPECT_LT(gpu_test::rel_l2(gpu_test::halves_to_float(act.get()), sref), 1e-3);
  EXPECT_LT(gpu_test::rel_l2(ad.get(), bref), 1e-6);
}

// RMSNorm and the SiLU product on the vector paths (RMSNorm: width a multiple of 4, up to 8,192,
// several float4 per thread; SiLU: a multiple of 8), an odd width and an odd row stride (the scalar
// paths), poisoned outputs.
TEST(Ops, RmsNormAndSiluAcrossWidthsAndStrides) {
  NIBBLE_REQUIRE_GPU();
  std::mt19937 rng(24);
  struct Shape { int rows, n, ld; };
  for (const Shape sh : {Shape{70, 4096, 4096}, Shape{3, 8192, 8192}, Shape{4, 391, 391}, Shape{6, 400, 401},
                         Shape{2, 12000, 12000}}) {
    auto x = gpu_test::random_floats(rng, static_cast<std::size_t>(sh.rows) * sh.ld, 3.0f);
    auto w = gpu_test::random_halves(rng, sh.n, 1.0f);
    Dev<float> xd(x);
    Dev<std::uint16_t> wd(w), out(static_cast<std::size_t>(sh.rows) * sh.ld);
    cudaMemset(out.p, 0xff, out.n * 2);
    ASSERT_EQ(kernels::rms_norm_f16(xd.p, sh.ld, reinterpret_cast<const __half*>(wd.p), 1e-5f, sh.rows, sh.n,
                                    reinterpret_cast<__half*>(out.p), sh.ld, nullptr), 0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto got = gpu_test::halves_to_float(out.get());
    std::vector<double> ref, have;
    for (int r = 0; r < sh.rows; ++r) {
      double ss = 0;
      for (int i = 0; i < sh.n; ++i) ss += double(x[r * sh.ld + i]) * x[r * sh.ld + i];
      for (int i = 0; i < sh.n; ++i) {
        ref.push_back(x[r * sh.ld + i] / std::sqrt(ss / sh.n + 1e-5) * fp16_to_fp32(w[i]));
        have.push_back(got[r * sh.ld + i]);
      }
    }
    EXPECT_LT(gpu_test::rel_l2(std::vector<float>(have.begin(), have.end()), ref), 1e-3) << sh.rows << "x" << sh.n;

    // SiLU product of fp16 inputs, with biases on every other shape.
    auto a = gpu_test::random_halves(rng, static_cast<std::size_t>(sh.rows) * sh.ld, 2.0f);
    auto b = gpu_test::random_halves(rng, a.size(), 2.0f);
    auto ba = gpu_test::random_halves(rng, sh.n, 0.5f), bb = gpu_test::random_halves(rng, sh.n, 0.5f);
    const bool with_bias = sh.n % 2 == 0;
    Dev<std::uint16_t> ad(a), bd(b), bad(ba), bbd(bb);
    cudaMemset(out.p, 0xff, out.n * 2);
    ASSERT_EQ(kernels::silu_mul_f16(reinterpret_cast<const __half*>(ad.p), sh.ld, reinterpret_cast<const __half*>(bd.p), sh.ld,
                                    with_bias ? reinterpret_cast<const __half*>(bad.p) : nullptr,
                                    with_bias ? reinterpret_cast<const __half*>(bbd.p) : nullptr, sh.rows, sh.n,
                                    reinterpret_cast<__half*>(out.p), sh.ld, nullptr), 0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto act = gpu_test::halves_to_float(out.get());
    std::vector<double> sref;
    have.clear();
    for (int r = 0; r < sh.rows; ++r)
      for (int i = 0; i < sh.n; ++i) {
        const std::size_t k = static_cast<std::size_t>(r) * sh.ld + i;
        const double g = fp16_to_fp32(a[k]) + (with_bias ? fp16_to_fp32(ba[i]) : 0.0);
        const double u = fp16_to_fp32(b[k]) + (with_bias ? fp16_to_fp32(bb[i]) : 0.0);
        sref.push_back(g / (1 + std::exp(-g)) * u);
        have.push_back(act[k]);
      }
    EXPECT_LT(gpu_test::rel_l2(std::vector<float>(have.begin(), have.end()), sref), 1e-3) << sh.rows << "x" << sh.n;
  }
}

}  // namespace
}  // namespace nibble
