// The quantizer's CUDA path against its CPU reference: Hessian preparation and the GPTQ solver on
// random correlated problems over every bit width, group size and K not a multiple of the lazy
// block (loss, codes and dequantized weights; the packed GPU result unpacks to exactly the weights
// the GPU solver reported); the decoder-layer pieces on the demo model's real weights; and the
// demo model quantized end to end on the GPU, judged by ppl_raw with the engine (the 4.0 bpw
// acceptance bound) and loaded on the CPU and CUDA backends with equal results. Calibration arrays
// in device memory give the bits host arrays give, piece by piece and for a whole job.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "../engine/model/ref_util.h"
#include "../engine/quant/quant_test_util.h"
#include "../engine/runtime/kv_ppl.h"
#include "formats/exl2.h"
#include "gpu_test_util.h"
#include "model/weight_source.h"
#include "nibble/quant.h"
#include "quant/compute.h"
#include "quant/linalg.h"
#include "quant/source_model.h"
#include "util/half.h"

namespace nibble {
namespace {

using namespace nibble::quant;

struct Problem {
  int K = 0, N = 0, T = 0;
  std::vector<float> x, w;  // [T][K], [N][K]
};

// Inputs with correlated features and uneven scales (as hidden states have), one dead input.
Problem make_problem(int K, int N, int T, unsigned seed) {
  Problem p{K, N, T, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> scale(static_cast<std::size_t>(K));
  for (int k = 0; k < K; ++k) scale[static_cast<std::size_t>(k)] = 0.2f + 2.0f * static_cast<float>(k % 7) / 7.0f;
  p.x.resize(static_cast<std::size_t>(T) * K);
  for (int t = 0; t < T; ++t) {
    const float common = g(rng);
    for (int k = 0; k < K; ++k)
      p.x[static_cast<std::size_t>(t) * K + k] = k == 3 ? 0.0f : scale[static_cast<std::size_t>(k)] * (g(rng) + 0.6f * common);
  }
  p.w.resize(static_cast<std::size_t>(N) * K);
  for (auto& v : p.w) v = 0.05f * g(rng);
  for (int i = 0; i < N; ++i) p.w[static_cast<std::size_t>(i) * K + static_cast<std::size_t>(i * 13 % K)] = 0.6f;  // outliers
  return p;
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

const ModelSpec& demo_spec() {
  static std::unique_ptr<WeightSource> ws = [] {
    auto r = WeightSource::open(test::demo_dir());
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? std::move(*r) : nullptr;
  }();
  return ws->spec();
}

TEST(QuantGpu, GptqMatchesTheCpuSolver) {
  NIBBLE_REQUIRE_GPU();
  ThreadPool pool(4);
  const ModelSpec& spec = demo_spec();
  auto cpu = make_cpu_quant_compute(spec, 64, pool);
  auto gpu = make_quant_compute("cuda:0", spec, 64, pool);
  ASSERT_TRUE(gpu) << gpu.error().to_string();
  struct Shape {
    int K, N;
  };
  for (const Shape sh : {Shape{352, 48}, Shape{256, 264}, Shape{1024, 96}}) {
    const Problem p = make_problem(sh.K, sh.N, 3 * sh.K, static_cast<unsigned>(sh.K + sh.N));
    Hessian hc = cpu->make_hessian(p.K), hg = (*gpu)->make_hessian(p.K);
    // Two calls each, as the quantizer accumulates over chunks of rows.
    const std::int64_t half_rows = p.T / 2;
    cpu->hessian_add(p.x.data(), half_rows, p.K, hc);
    cpu->hessian_add(p.x.data() + half_rows * p.K, p.T - half_rows, p.K, hc);
    (*gpu)->hessian_add(p.x.data(), half_rows, p.K, hg);
    (*gpu)->hessian_add(p.x.data() + half_rows * p.K, p.T - half_rows, p.K, hg);
    auto pc = cpu->prepare_hessian(hc);
    auto pg = (*gpu)->prepare_hessian(hg);
    ASSERT_TRUE(pc && pg) << (pg ? "" : pg.error().to_string());
    EXPECT_EQ(pc->perm, pg->perm) << "K " << p.K;
    EXPECT_EQ(pc->dead, pg->dead);
    EXPECT_EQ(pg->dead[3], 1);
    EXPECT_NEAR(pg->damp, pc->damp, 1e-7 * pc->damp);  // the diagonal's mean, summed in another order
    int tried = 0;
    for (const auto& mix : linear_mixes()) {
      auto layout = mix_layout(mix, p.K);
      ASSERT_TRUE(layout);
      auto rc = cpu->gptq(p.w.data(), p.N, p.K, *pc, *layout);
      auto rg = (*gpu)->gptq(p.w.data(), p.N, p.K, *pg, *layout);
      ASSERT_TRUE(rc) << rc.error().to_string();
      ASSERT_TRUE(rg) << mix.name << ": " << rg.error().to_string();
      std::size_t same = 0;
      for (std::size_t i = 0; i < rc->exl2.codes.size(); ++i) same += rc->exl2.codes[i] == rg->exl2.codes[i];
      const double agree = static_cast<double>(same) / static_cast<double>(rc->exl2.codes.size());
      const double werr = rel_l2(rg->weight, rc->weight);
      const double lrel = std::fabs(rg->loss - rc->loss) / rc->loss;
      if (tried % 6 == 0)
        std::printf("K %4d N %3d %-14s codes agree %.4f  weight rel L2 %.2e  loss %.4e vs %.4e\n", p.K, p.N, mix.name.c_str(),
                    agree, werr, rg->loss, rc->loss);
      EXPECT_GT(agree, 0.97) << mix.name;
      EXPECT_LT(werr, 2e-2) << mix.name;
      EXPECT_LT(lrel, 2e-2) << mix.name;
      // The GPU's outputs pack and unpack to exactly the weight it reported (no packing drift).
      auto packed = exl2_pack(rg->exl2);
      ASSERT_TRUE(packed) << packed.error().to_string();
      LinearDesc d;
      d.name = "layer";
      d.format = LinearFormat::exl2;
      d.K = p.K;
      d.N = p.N;
      d.exl2 = packed->views("layer");
      ASSERT_TRUE(exl2_validate(d)) << mix.name;
      std::vector<float> out(static_cast<std::size_t>(p.K) * p.N);
      ASSERT_TRUE(exl2_dequantize(d, out.data()));
      ASSERT_EQ(std::memcmp(out.data(), rg->weight.data(), out.size() * sizeof(float)), 0) << "packing drift in " << mix.name;
      // Without host outputs: the same loss, and the device weight serves linear() as the host one does.
      auto rd = (*gpu)->gptq(p.w.data(), p.N, p.K, *pg, *layout, false);
      ASSERT_TRUE(rd);
      EXPECT_EQ(rd->loss, rg->loss) << "the GPU solver is not deterministic (" << mix.name << ")";
      ++tried;
    }
    EXPECT_EQ(tried, static_cast<int>(linear_mixes().size()));
    EXPECT_TRUE((*gpu)->status().ok());
  }
}

TEST(QuantGpu, LayerPiecesMatchTheCpu) {
  NIBBLE_REQUIRE_GPU();
  ThreadPool pool(4);
  auto ws = WeightSource::open(test::demo_dir());
  ASSERT_TRUE(ws);
  const ModelSpec& s = (*ws)->spec();
  const int L = 96, seqs = 3, T = L * seqs, H = s.hidden_size;
  auto cpu = make_cpu_quant_compute(s, L, pool);
  auto gpu = make_quant_compute("cuda:0", s, L, pool);
  ASSERT_TRUE(gpu) << gpu.error().to_string();
  auto fp = load_layer_weights(**ws, 1, pool);
  ASSERT_TRUE(fp) << fp.error().to_string();
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(T) * H);
  for (auto& v : x) v = g(rng);

  std::vector<float> nc(x.size()), ng(x.size(), NAN);
  cpu->rmsnorm(x.data(), fp->attn_norm, T, nc.data());
  (*gpu)->rmsnorm(x.data(), fp->attn_norm, T, ng.data());
  EXPECT_LT(rel_l2(ng, nc), 1e-6);

  std::vector<float> ac(static_cast<std::size_t>(T) * s.q_dim()), ag(ac.size(), NAN);
  cpu->attention_core(fp->q, fp->k, fp->v, *fp, nc.data(), seqs, ac.data());
  (*gpu)->attention_core(fp->q, fp->k, fp->v, *fp, nc.data(), seqs, ag.data());
  const double attn_err = rel_l2(ag, ac);
  EXPECT_LT(attn_err, 1e-5);

  std::vector<float> mc(static_cast<std::size_t>(T) * s.intermediate_size), mg(mc.size(), NAN);
  cpu->swiglu(fp->gate, fp->up, nc.data(), T, mc.data());
  (*gpu)->swiglu(fp->gate, fp->up, nc.data(), T, mg.data());
  const double mlp_err = rel_l2(mg, mc);
  EXPECT_LT(mlp_err, 1e-5);

  // Residual linear with accumulation, from an fp32 weight with a bias.
  std::vector<float> wv(static_cast<std::size_t>(H) * s.intermediate_size), bias(static_cast<std::size_t>(H));
  for (auto& v : wv) v = 0.02f * g(rng);
  for (auto& v : bias) v = g(rng);
  const CpuMatrix m = cpu_matrix_f32(wv, H, s.intermediate_size, bias);
  std::vector<float> yc = x, yg = x;
  cpu->linear(m, mc.data(), T, yc.data(), true);
  (*gpu)->linear(m, mc.data(), T, yg.data(), true);
  const double lin_err = rel_l2(yg, yc);
  EXPECT_LT(lin_err, 1e-5);
  std::printf("rel L2 vs CPU: attention %.2e, SwiGLU %.2e, linear %.2e\n", attn_err, mlp_err, lin_err);

  // Candidate scoring (the measurement's inner loop) for both block kinds: candidates are the fp
  // weights with noise of about 1% of their spread, the reference is the fp block's output.
  auto noisy = [&](const CpuMatrix& f, float amount) {
    std::vector<float> w(f.half.size());
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = fp16_to_fp32(f.half[i]) + amount * g(rng);
    return cpu_matrix_f32(std::move(w), f.N, f.K, f.bias);
  };
  for (const BlockKind kind : {BlockKind::attn, BlockKind::mlp}) {
    const bool attn = kind == BlockKind::attn;
    const std::vector<const CpuMatrix*> fin = attn ? std::vector<const CpuMatrix*>{&fp->q, &fp->k, &fp->v}
                                                  : std::vector<const CpuMatrix*>{&fp->gate, &fp->up};
    const CpuMatrix& fout = attn ? fp->o : fp->down;
    std::vector<CpuMatrix> qin;
    for (const CpuMatrix* f : fin) qin.push_back(noisy(*f, 5e-4f));
    const CpuMatrix o1 = noisy(fout, 5e-4f), o2 = noisy(fout, 2e-3f);
    std::vector<float> mid(static_cast<std::size_t>(T) * fout.K), ref = x;
    if (attn) cpu->attention_core(*fin[0], *fin[1], *fin[2], *fp, nc.data(), seqs, mid.data());
    else cpu->swiglu(*fin[0], *fin[1], nc.data(), T, mid.data());
    cpu->linear(fout, mid.data(), T, ref.data(), true);
    std::vector<const CpuMatrix*> in;
    for (const auto& q : qin) in.push_back(&q);
    const std::vector<const CpuMatrix*> outs = {&o1, &fout, &o2};
    ASSERT_TRUE(cpu->begin_scores(kind, x.data(), ref.data(), nc.data(), seqs, *fp).ok());
    ASSERT_TRUE((*gpu)->begin_scores(kind, x.data(), ref.data(), nc.data(), seqs, *fp).ok());
    auto sc = cpu->score_outputs(in, outs);
    auto sg = (*gpu)->score_outputs(in, outs);
    ASSERT_TRUE(sc && sg) << (sg ? "" : sg.error().to_string());
    ASSERT_EQ(sc->size(), outs.size());
    ASSERT_EQ(sg->size(), outs.size());
    for (std::size_t i = 0; i < outs.size(); ++i) {
      std::printf("score %s[%zu]: cpu %.6e gpu %.6e\n", attn ? "attn" : "mlp", i, (*sc)[i], (*sg)[i]);
      EXPECT_NEAR((*sg)[i], (*sc)[i], 1e-2 * (*sc)[i]);
    }
    EXPECT_LT((*sc)[0], (*sc)[2]);  // more noise, larger error
  }
  EXPECT_TRUE((*gpu)->status().ok());
}

// Calibration arrays in device memory (activations()) give the same bits as host arrays through
// every layer piece, and the copies and distances read what was written.
TEST(QuantGpu, DeviceActivationsGiveTheHostArraysResults) {
  NIBBLE_REQUIRE_GPU();
  ThreadPool pool(4);
  auto ws = WeightSource::open(test::demo_dir());
  ASSERT_TRUE(ws);
  const ModelSpec& s = (*ws)->spec();
  const int L = 80, seqs = 3, T = L * seqs, H = s.hidden_size, I = s.intermediate_size, Q = s.q_dim();
  auto gpu = make_quant_compute("cuda:0", s, L, pool);
  ASSERT_TRUE(gpu) << gpu.error().to_string();
  QuantCompute& qc = **gpu;
  auto fp = load_layer_weights(**ws, 2, pool);
  ASSERT_TRUE(fp) << fp.error().to_string();
  std::mt19937 rng(9);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const std::size_t nh = static_cast<std::size_t>(T) * H;
  std::vector<float> x(nh);
  for (auto& v : x) v = g(rng);
  auto device = [&](std::size_t n) {
    auto a = qc.activations(n);
    EXPECT_TRUE(a) << a.error().to_string();
    EXPECT_TRUE(a->on_device);  // the test GPUs have room for a few MB
    return std::move(*a);
  };
  auto host_of = [&](const Activations& a) {
    std::vector<float> h(a.size, NAN);
    EXPECT_TRUE(qc.read_back(a.data, a.size, h.data()).ok());
    return h;
  };
  Activations xd = device(nh);
  ASSERT_TRUE(qc.write_in(xd.data, x.data(), nh).ok());
  EXPECT_EQ(host_of(xd), x);

  // RMSNorm: host -> host against device -> device, and in place on the device.
  std::vector<float> nh_host(nh);
  qc.rmsnorm(x.data(), fp->attn_norm, T, nh_host.data());
  Activations nd = device(nh);
  qc.rmsnorm(xd.data, fp->attn_norm, T, nd.data);
  EXPECT_EQ(host_of(nd), nh_host);
  Activations inplace = device(nh);
  ASSERT_TRUE(qc.copy_floats(inplace.data, xd.data, nh).ok());
  qc.rmsnorm(inplace.data, fp->attn_norm, T, inplace.data);
  EXPECT_EQ(host_of(inplace), nh_host);

  // Attention and SwiGLU from device inputs into device outputs, and into host outputs.
  std::vector<float> ah(static_cast<std::size_t>(T) * Q), ah2(ah.size(), NAN);
  qc.attention_core(fp->q, fp->k, fp->v, *fp, nh_host.data(), seqs, ah.data());
  Activations ad = device(ah.size());
  qc.attention_core(fp->q, fp->k, fp->v, *fp, nd.data, seqs, ad.data);
  qc.attention_core(fp->q, fp->k, fp->v, *fp, nd.data, seqs, ah2.data());
  EXPECT_EQ(host_of(ad), ah);
  EXPECT_EQ(ah2, ah);
  std::vector<float> mh(static_cast<std::size_t>(T) * I);
  qc.swiglu(fp->gate, fp->up, nh_host.data(), T, mh.data());
  Activations md = device(mh.size());
  qc.swiglu(fp->gate, fp->up, nd.data, T, md.data);
  EXPECT_EQ(host_of(md), mh);

  // Accumulating linear into a device residual; a host input with a device output.
  std::vector<float> yh = x;
  qc.linear(fp->down, mh.data(), T, yh.data(), true);
  qc.linear(fp->down, md.data, T, xd.data, true);
  EXPECT_EQ(host_of(xd), yh);
  Activations yd = device(nh);
  qc.linear(fp->o, ah.data(), T, yd.data, false);
  std::vector<float> oh(nh);
  qc.linear(fp->o, ah.data(), T, oh.data(), false);
  EXPECT_EQ(host_of(yd), oh);

  // Hessians from device and host inputs factor to the same permutation.
  Hessian h1 = qc.make_hessian(I), h2 = qc.make_hessian(I);
  qc.hessian_add(mh.data(), T, I, h1);
  qc.hessian_add(md.data, T, I, h2);
  auto p1 = qc.prepare_hessian(h1);
  auto p2 = qc.prepare_hessian(h2);
  ASSERT_TRUE(p1 && p2);
  EXPECT_EQ(p1->perm, p2->perm);
  EXPECT_EQ(p1->damp, p2->damp);

  // GPTQ from a weight held on the device gives the bits of the same weight from host memory.
  {
    auto down = block_linears(**ws, 2, BlockKind::mlp);
    ASSERT_TRUE(down);
    const LinearDesc& ld = down->back();
    auto host_w = linear_f32(ld);
    ASSERT_TRUE(host_w);
    Activations dev_w = device(host_w->size());
    ASSERT_TRUE(qc.write_in(dev_w.data, host_w->data(), host_w->size()).ok());
    auto layout = mix_layout(linear_mixes()[3], ld.K);
    ASSERT_TRUE(layout);
    auto from_host = qc.gptq(host_w->data(), ld.N, ld.K, *p1, *layout);
    auto from_dev = qc.gptq(dev_w.data, ld.N, ld.K, *p1, *layout);
    ASSERT_TRUE(from_host && from_dev);
    EXPECT_EQ(from_dev->exl2.codes, from_host->exl2.codes);
    EXPECT_EQ(from_dev->weight, from_host->weight);
    EXPECT_EQ(from_dev->loss, from_host->loss);
  }

  // Distances: device/device, device/host and host/host agree with a plain double sum.
  double want = 0, want_norm = 0;
  for (std::size_t i = 0; i < nh; ++i) {
    want += (static_cast<double>(yh[i]) - oh[i]) * (static_cast<double>(yh[i]) - oh[i]);
    want_norm += static_cast<double>(oh[i]) * oh[i];
  }
  EXPECT_NEAR(qc.squared_distance(xd.data, yd.data, nh), want, want * 1e-12);
  EXPECT_NEAR(qc.squared_distance(xd.data, oh.data(), nh), want, want * 1e-12);
  EXPECT_NEAR(qc.squared_distance(yh.data(), yd.data, nh), want, want * 1e-12);
  EXPECT_NEAR(qc.squared_distance(yh.data(), oh.data(), nh), want, want * 1e-12);
  EXPECT_NEAR(qc.squared_distance(yd.data, nullptr, nh), want_norm, want_norm * 1e-12);
  EXPECT_TRUE(qc.status().ok()) << qc.status().error().to_string();
}

// The whole job with calibration arrays on the device and with them in host memory
// (NIBBLE_QUANT_HOST_ACTIVATIONS, the path of a GPU without room) writes the same tensors.
TEST(QuantGpu, DeviceAndHostActivationJobsWriteTheSameFiles) {
  NIBBLE_REQUIRE_GPU();
  test::TempDir t("gpu-act");
  auto run = [&](const char* name, bool host) {
    if (host) setenv("NIBBLE_QUANT_HOST_ACTIVATIONS", "1", 1);
    else unsetenv("NIBBLE_QUANT_HOST_ACTIVATIONS");
    QuantOptions o;
    o.input_dir = test::demo_dir();
    o.output_dir = t.sub(name);
    o.rows = 12;
    o.length = 256;
    o.measurement_rows = 2;
    o.bits = 3.5;
    o.device = "cuda:0";
    auto r = quantize_model(o);
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? r->files : std::vector<std::string>{};
  };
  const auto a = run("device", false), b = run("host", true);
  unsetenv("NIBBLE_QUANT_HOST_ACTIVATIONS");
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string fa = t.sub("device") + "/" + a[i], fb = t.sub("host") + "/" + b[i];
    if (a[i].find(".safetensors") == std::string::npos) continue;
    EXPECT_TRUE(test::read_bytes(fa) == test::read_bytes(fb)) << a[i] << " differs";
  }
}

TEST(QuantGpu, ErrorsAreTyped) {
  NIBBLE_REQUIRE_GPU();
  ThreadPool pool(2);
  auto r = make_quant_compute("cuda:57", demo_spec(), 64, pool);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(r.error().message.find("cuda:57"), std::string::npos) << r.error().message;
  auto bad = make_quant_compute("cuda:x", demo_spec(), 64, pool);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::invalid_argument);
}

// ppl_raw (BENCHMARKS.md protocol: 64 windows of 512 tokens of the held-out text).
double ppl_raw_of(Model& model) {
  const auto ids = corpus_ids();
  auto r = perplexity_windows(model, ids, 64, 512);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? r->perplexity : 0;
}

// The acceptance run on the GPU: the demo model to 4.0 bpw with measurement, as the CPU tests do.
TEST(QuantGpu, DemoModelAt4BitsOnCuda) {
  NIBBLE_REQUIRE_GPU();
  test::TempDir t("gpu");
  QuantOptions o;
  o.input_dir = test::demo_dir();
  o.output_dir = t.sub("out");
  o.rows = 16;
  o.length = 512;
  o.measurement_rows = 2;
  o.bits = 4.0;
  o.device = "cuda:0";
  const auto t0 = std::chrono::steady_clock::now();
  auto r = quantize_model(o);
  ASSERT_TRUE(r) << r.error().to_string();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NEAR(r->bits_per_weight, 4.0, 0.05);

  auto cpu = Model::load(t.sub("out"));
  ASSERT_TRUE(cpu) << cpu.error().to_string();
  LoadOptions go;
  go.device = "cuda:0";
  go.context = 4096;
  auto gpu = Model::load(t.sub("out"), go);
  ASSERT_TRUE(gpu) << gpu.error().to_string();
  const double pc = ppl_raw_of(**cpu), pg = ppl_raw_of(**gpu);
  std::printf("quantized on cuda:0 in %.1f s with measurement: %.4f bpw, ppl_raw %.4f on the CPU backend, %.4f on CUDA "
              "(ExLlamaV2 22.2855; bound 22.29)\n",
              seconds, r->bits_per_weight, pc, pg);
  EXPECT_LE(pc, 22.29);
  EXPECT_NEAR(pg, pc, pc * 1e-3);
  // Greedy continuations agree between the backends.
  GenerateOptions g;
  g.max_tokens = 48;
  g.stop_at_eos = false;
  const std::vector<std::int32_t> prompt = {0, 412, 73, 1290, 8, 55};
  auto a = generate(**cpu, prompt, g);
  auto b = generate(**gpu, prompt, g);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace nibble
