// Tensor parallelism on the GPU machine. With two GPUs: the peer-access collectives against their
// definition (bit for bit, and equal on both GPUs). On one GPU: the shares of a quantized layer (ExLlamaV2's
// EXL2 file with its act-order permutation; a synthetic GPTQ model) dequantize to exactly the
// matching columns / permuted rows of the whole layer, and a group naming one GPU twice is refused.
// With two GPUs: the demo model (fp16) and the EXL2 file shared among cuda:0 and cuda:1 give the
// greedy tokens of one GPU (one sequence; eight batched jobs, so that decode steps of several rows
// run, may differ in one job after a near-tie), perplexity within 0.3%, and prefill logits close to
// one GPU's (the partial sums are added in another order); memory is reported per GPU, each within
// 10% of the planner's share for it (the KV cache within 2%, the working buffers within 15%).
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "../engine/model/ref_util.h"
#include "backend/cuda/cuda_linear.h"
#include "gpu_test_util.h"
#include "model_test_util.h"
#include "io/text_file.h"
#include "model/weight_source.h"
#include "nibble/bench.h"
#include "nibble/plan.h"
#include "nibble/runtime.h"
#include "nibble/tokenizer.h"
#include "nibble_kernels/collective.h"
#include "nibble_kernels/dequant.h"
#include "util/half.h"

namespace nibble {
namespace {

int gpu_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

// W as fp16 bits [K, N] in the input's order (the dequantizer writes each permuted row back to its row).
std::vector<std::uint16_t> dequantized(const cuda::DeviceLinear& L) {
  __half* out = nullptr;
  const std::size_t n = static_cast<std::size_t>(L.K) * L.N;
  EXPECT_EQ(cudaMalloc(&out, n * 2), cudaSuccess);
  EXPECT_EQ(kernels::qmatrix_dequant_f16(L.quant, 0, L.N, out, L.N, 0, nullptr), 0);
  std::vector<std::uint16_t> h(n);
  EXPECT_EQ(cudaMemcpy(h.data(), out, n * 2, cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(out);
  return h;
}

// Each of `ranks` MLP shares as the CUDA segment builds them: down's permuted rows cut at group
// boundaries, gate/up the columns those rows read.
void check_mlp_shares(const std::string& dir, int layer, int ranks) {
  auto ws = WeightSource::open(dir);
  ASSERT_TRUE(ws) << ws.error().to_string();
  const ModelSpec& sp = (*ws)->spec();
  const int hidden = sp.hidden_size, inter = sp.intermediate_size;
  auto gate = (*ws)->linear(WeightSource::layer_name(layer, "mlp.gate_proj"), hidden, inter, false);
  auto down = (*ws)->linear(WeightSource::layer_name(layer, "mlp.down_proj"), inter, hidden, false);
  ASSERT_TRUE(gate && down);
  auto down_host = cuda::quant_host_layout(*down);
  ASSERT_TRUE(down_host) << down_host.error().to_string();
  auto cuts = cuda::shard_row_cuts(down_host->groups, inter, ranks);
  ASSERT_TRUE(cuts) << cuts.error().to_string();
  auto whole_gate = cuda::upload_linear(*gate, 132);
  auto whole_down = cuda::upload_linear(*down, 132);
  ASSERT_TRUE(whole_gate && whole_down);
  const auto wg = dequantized(*whole_gate), wd = dequantized(*whole_down);
  int rows_seen = 0;
  for (int r = 0; r < ranks; ++r) {
    cuda::LinearShard rs;
    rs.k_begin = (*cuts)[r];
    rs.k_end = (*cuts)[r + 1];
    cuda::LinearShard cs;
    for (int k = rs.k_begin; k < rs.k_end; ++k) cs.cols.push_back(down_host->perm[static_cast<std::size_t>(k)]);
    auto part = cuda::shard_quant_host(*down_host, rs);
    ASSERT_TRUE(part) << part.error().to_string();
    auto d = cuda::upload_quant(*part, down->name, 132, 0, true);
    auto g = cuda::upload_linear(*gate, 132, 0, true, &cs);
    ASSERT_TRUE(d && g);
    ASSERT_EQ(d->K, rs.k_end - rs.k_begin);
    ASSERT_EQ(g->N, rs.k_end - rs.k_begin);
    const auto sd = dequantized(*d), sg = dequantized(*g);
    // Row j of the down share is the whole matrix's row perm[k_begin + j].
    int bad = 0;
    for (int j = 0; j < d->K; ++j)
      for (int n = 0; n < hidden; ++n)
        bad += sd[static_cast<std::size_t>(j) * hidden + n] != wd[static_cast<std::size_t>(cs.cols[j]) * hidden + n];
    EXPECT_EQ(bad, 0) << dir << " down share " << r << " of " << ranks;
    // Column j of the gate share is the whole matrix's column perm[k_begin + j].
    bad = 0;
    for (int k = 0; k < hidden; ++k)
      for (int j = 0; j < g->N; ++j)
        bad += sg[static_cast<std::size_t>(k) * g->N + j] != wg[static_cast<std::size_t>(k) * inter + cs.cols[j]];
    EXPECT_EQ(bad, 0) << dir << " gate share " << r << " of " << ranks;
    rows_seen += d->K;
  }
  EXPECT_EQ(rows_seen, inter);
}

TEST(TensorParallelGpu, QuantizedSharesAreSlicesOfTheWholeLayer) {
  NIBBLE_REQUIRE_GPU();
  for (int ranks : {2, 3}) check_mlp_shares(exl2_model_dir(), 3, ranks);
  const std::string gptq = "/tmp/nibble-tp-gptq-" + std::to_string(::getpid());
  SyntheticShape shape;
  shape.hidden = 256;
  shape.intermediate = 768;
  shape.layers = 1;
  shape.heads = 4;
  shape.kv_heads = 4;
  shape.vocab = 512;
  ASSERT_TRUE(write_synthetic_model(gptq, shape, SyntheticFormat::gptq).ok());
  check_mlp_shares(gptq, 0, 2);
  std::filesystem::remove_all(gptq);
}

TEST(TensorParallelGpu, OneGpuNamedTwiceIsRefused) {
  NIBBLE_REQUIRE_GPU();
  LoadOptions o;
  o.context = 1024;
  o.tensor_parallel = {"cuda:0", "cuda:0"};
  auto m = Model::load(exl2_model_dir(), o);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::invalid_argument) << m.error().to_string();
  EXPECT_NE(m.error().message.find("named twice"), std::string::npos) << m.error().message;
}

struct Outputs {
  std::vector<float> logits;
  std::vector<std::int32_t> greedy;
  std::vector<std::vector<std::int32_t>> batch;
  double ppl = 0;
};

Outputs measure(Model& m) {
  Outputs r;
  {
    auto seq = m.new_sequence();
    EXPECT_TRUE(seq->append(gpu_test::split_prompt(), true, r.logits).ok());
  }
  GenerateOptions g;
  g.max_tokens = 64;
  g.stop_at_eos = false;
  auto t = generate(m, gpu_test::split_prompt(), g);
  EXPECT_TRUE(t) << t.error().to_string();
  if (t) r.greedy = *t;
  auto gen = Generator::create(m, GeneratorOptions{});
  EXPECT_TRUE(gen);
  if (gen) {
    std::vector<std::uint64_t> ids;
    for (int k = 0; k < 8; ++k) {
      JobSettings j;
      j.prompt = {gpu_test::split_prompt().begin(), gpu_test::split_prompt().begin() + 3 + k};
      j.max_new_tokens = 32;
      j.stop_at_model_eos = false;
      j.sampler.temperature = 0.0f;
      auto id = (*gen)->submit(std::move(j));
      EXPECT_TRUE(id);
      if (id) ids.push_back(*id);
    }
    EXPECT_TRUE((*gen)->run_until_idle().ok());
    for (auto id : ids) {
      auto res = (*gen)->take_result(id);
      EXPECT_TRUE(res.has_value());
      if (res) r.batch.push_back(res->ids);
    }
  }
  auto p = perplexity_windows(m, gpu_test::heldout_ids(), 64, 512);
  EXPECT_TRUE(p) << p.error().to_string();
  r.ppl = p ? p->perplexity : 0;
  return r;
}

// The peer-access collectives against their definition on random data, 200 rounds alternating as
// a decode step does (so the barrier's epochs advance and wrap nothing), with odd sizes (the
// reduce's scalar tail) and an output that must keep its other columns.
TEST(TensorParallelGpu, PeerCollectivesMatchTheirDefinition) {
  if (gpu_count() < 2) GTEST_SKIP() << "needs two GPUs";
  int can01 = 0, can10 = 0;
  CUDA_OK(cudaDeviceCanAccessPeer(&can01, 0, 1));
  CUDA_OK(cudaDeviceCanAccessPeer(&can10, 1, 0));
  if (!can01 || !can10) GTEST_SKIP() << "cuda:0 and cuda:1 have no peer access";
  for (int d : {0, 1}) {
    CUDA_OK(cudaSetDevice(d));
    const cudaError_t e = cudaDeviceEnablePeerAccess(1 - d, 0);
    if (e != cudaErrorPeerAccessAlreadyEnabled) CUDA_OK(e);
    cudaGetLastError();
  }
  constexpr int R = 2, kMaxN = 16 * 4096 + 3, rows = 5, width = 200, ldo = 2 * width + 16;
  float* src[R];
  float* out[R];
  __half* gsrc[R];
  __half* gout[R];
  cudaStream_t st[R];
  kernels::PeerSignal* sig[R];
  for (int d = 0; d < R; ++d) {
    CUDA_OK(cudaSetDevice(d));
    CUDA_OK(cudaMalloc(&src[d], kMaxN * 4));
    CUDA_OK(cudaMalloc(&out[d], kMaxN * 4));
    CUDA_OK(cudaMalloc(&gsrc[d], rows * width * 2));
    CUDA_OK(cudaMalloc(&gout[d], rows * ldo * 2));
    CUDA_OK(cudaMalloc(&sig[d], sizeof(kernels::PeerSignal)));
    CUDA_OK(cudaMemset(sig[d], 0, sizeof(kernels::PeerSignal)));
    CUDA_OK(cudaStreamCreateWithFlags(&st[d], cudaStreamNonBlocking));
  }
  std::mt19937 g(7);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  int bad = 0;
  for (int round = 0; round < 200; ++round) {
    const long n = round % 3 == 0 ? kMaxN : (round % 3 == 1 ? 4096 : 4096 * 3 + 1);
    std::vector<float> hs[R], ho(static_cast<std::size_t>(n));
    std::vector<std::uint16_t> hg[R], hgo(static_cast<std::size_t>(rows) * ldo, 0x7e00);  // NaN poison
    for (auto& v : ho) v = u(g);
    for (int d = 0; d < R; ++d) {
      hs[d].resize(static_cast<std::size_t>(n));
      for (auto& v : hs[d]) v = u(g);
      hg[d].resize(static_cast<std::size_t>(rows) * width);
      for (auto& v : hg[d]) v = fp32_to_fp16(u(g));
      CUDA_OK(cudaSetDevice(d));
      CUDA_OK(cudaMemcpy(src[d], hs[d].data(), n * 4, cudaMemcpyHostToDevice));
      CUDA_OK(cudaMemcpy(out[d], ho.data(), n * 4, cudaMemcpyHostToDevice));
      CUDA_OK(cudaMemcpy(gsrc[d], hg[d].data(), hg[d].size() * 2, cudaMemcpyHostToDevice));
      CUDA_OK(cudaMemcpy(gout[d], hgo.data(), hgo.size() * 2, cudaMemcpyHostToDevice));
    }
    for (int d = 0; d < R; ++d) {
      kernels::PeerCollectiveArgs a;
      a.rank = d;
      a.ranks = R;
      a.signals[0] = sig[0];
      a.signals[1] = sig[1];
      CUDA_OK(cudaSetDevice(d));
      ASSERT_EQ(kernels::peer_all_gather_f16(a, gsrc, gout[d], rows, width, ldo, st[d]), 0);
      ASSERT_EQ(kernels::peer_all_reduce_add_f32(a, src, out[d], n, st[d]), 0);
    }
    std::vector<float> got[R];
    for (int d = 0; d < R; ++d) {
      CUDA_OK(cudaSetDevice(d));
      CUDA_OK(cudaStreamSynchronize(st[d]));
      got[d].resize(static_cast<std::size_t>(n));
      CUDA_OK(cudaMemcpy(got[d].data(), out[d], n * 4, cudaMemcpyDeviceToHost));
      std::vector<std::uint16_t> gg(hgo.size());
      CUDA_OK(cudaMemcpy(gg.data(), gout[d], gg.size() * 2, cudaMemcpyDeviceToHost));
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < ldo; ++c) {
          const std::uint16_t want = c < R * width ? hg[c / width][static_cast<std::size_t>(r) * width + c % width] : 0x7e00;
          bad += gg[static_cast<std::size_t>(r) * ldo + c] != want;
        }
    }
    for (long i = 0; i < n; ++i) {
      const float want = ho[static_cast<std::size_t>(i)] + (hs[0][static_cast<std::size_t>(i)] + hs[1][static_cast<std::size_t>(i)]);
      bad += got[0][static_cast<std::size_t>(i)] != want;
      bad += std::memcmp(&got[0][static_cast<std::size_t>(i)], &got[1][static_cast<std::size_t>(i)], 4) != 0;
    }
  }
  EXPECT_EQ(bad, 0);
  for (int d = 0; d < R; ++d) {
    CUDA_OK(cudaSetDevice(d));
    cudaFree(src[d]);
    cudaFree(out[d]);
    cudaFree(gsrc[d]);
    cudaFree(gout[d]);
    cudaFree(sig[d]);
    cudaStreamDestroy(st[d]);
  }
  CUDA_OK(cudaSetDevice(0));
}

// Both collective paths: the peer-access kernels (the default here) and NCCL (NIBBLE_TP_NCCL=1).
void check_two_gpus(bool nccl) {
  if (gpu_count() < 2) GTEST_SKIP() << "needs two GPUs";
  ASSERT_FALSE(gpu_test::heldout_ids().empty());
  if (nccl) setenv("NIBBLE_TP_NCCL", "1", 1);
  for (const std::string& dir : {demo_model_dir(), exl2_model_dir()}) {
    LoadOptions one;
    one.device = "cuda:0";
    one.context = 4096;
    Outputs want;
    {
      auto m = Model::load(dir, one);
      ASSERT_TRUE(m) << m.error().to_string();
      want = measure(**m);
    }
    for (const auto& group : {std::vector<std::string>{"cuda:0", "cuda:1"}, std::vector<std::string>{"cuda:1", "cuda:0"}}) {
      LoadOptions tp = one;
      tp.tensor_parallel = group;
      auto m = Model::load(dir, tp);
      ASSERT_TRUE(m) << m.error().to_string();
      const Outputs got = measure(**m);
      double max_diff = 0, max_ref = 0;
      ASSERT_EQ(got.logits.size(), want.logits.size());
      for (std::size_t i = 0; i < got.logits.size(); ++i) {
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(got.logits[i] - want.logits[i])));
        max_ref = std::max(max_ref, static_cast<double>(std::fabs(want.logits[i])));
      }
      const std::string name = std::filesystem::path(dir).filename().string() + " tp(" + group[0] + "|" + group[1] + ")" +
                               (nccl ? " NCCL" : " peer");
      std::printf("%s: prefill logits max |diff| %.3g (max |logit| %.3g), ppl %.4f (one GPU %.4f, %+.3f%%), greedy %s, "
                  "batched greedy %s\n",
                  name.c_str(), max_diff, max_ref, got.ppl, want.ppl, 100 * (got.ppl - want.ppl) / want.ppl,
                  got.greedy == want.greedy ? "identical" : "DIFFERENT", got.batch == want.batch ? "identical" : "DIFFERENT");
      EXPECT_LT(max_diff, 0.02 * max_ref) << name;
      EXPECT_EQ(got.greedy, want.greedy) << name;
      // Batched jobs: greedy token for token, except where the other summation order flips a
      // near-tie (then the rest of that job differs): at most one of the eight.
      ASSERT_EQ(got.batch.size(), want.batch.size());
      int differ = 0;
      for (std::size_t k = 0; k < got.batch.size(); ++k) {
        EXPECT_EQ(got.batch[k].size(), 32u);
        if (got.batch[k] == want.batch[k]) continue;
        ++differ;
        std::size_t same = 0;
        while (same < got.batch[k].size() && same < want.batch[k].size() && got.batch[k][same] == want.batch[k][same]) ++same;
        std::printf("  batched job %zu: first %zu tokens identical\n", k, same);
        EXPECT_GE(same, 8u) << name << " job " << k;
      }
      EXPECT_LE(differ, 1) << name;
      EXPECT_NEAR(got.ppl, want.ppl, want.ppl * 0.003) << name;
      // Each GPU's allocation against the planner's share for it (what the load check and the
      // model card budget).
      const auto use = (*m)->memory_use();
      ASSERT_EQ(use.size(), 2u) << name;
      auto planner = MemoryPlanner::open(dir);
      ASSERT_TRUE(planner) << planner.error().to_string();
      PlanOptions po;
      po.context = tp.context;
      po.max_batch_tokens = tp.max_batch_tokens;
      po.page_size = tp.page_size;
      for (const auto& u : use) {
        const int shard = u.device == group[0] ? 0 : 1;
        EXPECT_EQ(u.device, group[static_cast<std::size_t>(shard)]);
        const MemorySplit want_bytes = planner->tensor_parallel_share(po, 2, shard);
        std::printf("  %s: weights %zu (plan %zu), KV %zu (plan %zu), scratch %zu (plan %zu)\n", u.device.c_str(), u.weights,
                    want_bytes.weights, u.kv_cache, want_bytes.kv_cache, u.scratch, want_bytes.scratch);
        EXPECT_NEAR(static_cast<double>(u.weights), static_cast<double>(want_bytes.weights), 0.10 * want_bytes.weights);
        EXPECT_NEAR(static_cast<double>(u.kv_cache), static_cast<double>(want_bytes.kv_cache), 0.02 * want_bytes.kv_cache);
        // Working buffers: the planner sizes the MLP share for a cut up to half a group past 1/n.
        EXPECT_GE(static_cast<double>(want_bytes.scratch), 0.97 * static_cast<double>(u.scratch));
        EXPECT_NEAR(static_cast<double>(u.scratch), static_cast<double>(want_bytes.scratch), 0.15 * want_bytes.scratch);
      }
    }
  }
  if (nccl) unsetenv("NIBBLE_TP_NCCL");
}

TEST(TensorParallelGpu, TwoGpusMatchOneGpu) { check_two_gpus(false); }
TEST(TensorParallelGpu, TwoGpusMatchOneGpuThroughNccl) { check_two_gpus(true); }

}  // namespace
}  // namespace nibble
