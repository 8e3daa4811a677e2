// Split execution on the GPU machine: the demo model and ExLlamaV2's EXL2 file split across
// "GPU 0 and CPU" give the greedy tokens and perplexity of the all-GPU run (within 0.3%); two
// ranges on one GPU (two logical devices: their own streams, the hidden state handed between
// them) give the same logits; with two or more GPUs, a layer split across them (peer copies, and
// with peer access switched off the pinned host bounce) and a GPU -> CPU -> GPU chain give the same
// greedy tokens, and each GPU's allocation equals the planner's share for its range; a load that
// cannot fit is refused before any device memory is taken.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "../engine/model/ref_util.h"
#include "gpu_test_util.h"
#include "model_test_util.h"
#include "io/text_file.h"
#include "nibble/bench.h"
#include "nibble/devices.h"
#include "nibble/plan.h"
#include "nibble/tokenizer.h"

namespace nibble {
namespace {

constexpr int kLayers = 8;

int gpu_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

LoadOptions options(std::vector<LayerPlacement> placement) {
  LoadOptions o;
  o.device = "cuda:0";
  o.context = 4096;
  o.placement = std::move(placement);
  return o;
}

std::vector<std::int32_t> greedy(Model& m, int n = 64) {
  GenerateOptions g;
  g.max_tokens = n;
  g.stop_at_eos = false;
  auto r = generate(m, gpu_test::split_prompt(), g);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : std::vector<std::int32_t>{};
}

std::vector<float> prefill_logits(Model& m) {
  std::vector<float> logits;
  auto seq = m.new_sequence();
  EXPECT_TRUE(seq->append(gpu_test::split_prompt(), true, logits).ok());
  return logits;
}

double ppl(Model& m) {
  auto r = perplexity_windows(m, gpu_test::heldout_ids(), 64, 512);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? r->perplexity : 0;
}

std::string describe(const std::vector<LayerPlacement>& p) {
  std::string s;
  for (const auto& r : p) s += r.device + "[" + std::to_string(r.first_layer) + "," + std::to_string(r.last_layer) + ") ";
  return s;
}

TEST(PlacementGpu, GpuAndCpuMatchAllGpu) {
  NIBBLE_REQUIRE_GPU();
  ASSERT_FALSE(gpu_test::heldout_ids().empty());
  for (const std::string& dir : {demo_model_dir(), exl2_model_dir()}) {
    std::vector<std::int32_t> want_tokens;
    double want_ppl = 0;
    {
      auto all = Model::load(dir, options({}));
      ASSERT_TRUE(all) << all.error().to_string();
      want_tokens = greedy(**all);
      want_ppl = ppl(**all);
    }
    for (const auto& split : {std::vector<LayerPlacement>{{"cpu", 0, 3}, {"cuda:0", 3, kLayers}},
                              std::vector<LayerPlacement>{{"cuda:0", 0, 5}, {"cpu", 5, kLayers}},
                              std::vector<LayerPlacement>{{"cuda:0", 0, 2}, {"cpu", 2, 4}, {"cuda:0", 4, kLayers}}}) {
      auto m = Model::load(dir, options(split));
      ASSERT_TRUE(m) << m.error().to_string();
      const auto tokens = greedy(**m);
      const double p = ppl(**m);
      std::printf("%s %s: ppl %.4f (all-GPU %.4f, %+.3f%%), greedy %s\n", std::filesystem::path(dir).filename().c_str(),
                  describe(split).c_str(), p, want_ppl, 100 * (p - want_ppl) / want_ppl,
                  tokens == want_tokens ? "identical" : "DIFFERENT");
      EXPECT_EQ(tokens, want_tokens) << describe(split);
      EXPECT_NEAR(p, want_ppl, want_ppl * 0.003) << describe(split);
      const auto use = (*m)->memory_use();
      ASSERT_EQ(use.size(), 2u);  // cuda:0 and cpu, however many ranges
    }
  }
}

TEST(PlacementGpu, TwoLogicalDevicesOnOneGpuGiveTheSameLogits) {
  NIBBLE_REQUIRE_GPU();
  auto one = Model::load(exl2_model_dir(), options({}));
  ASSERT_TRUE(one) << one.error().to_string();
  const auto want = prefill_logits(**one);
  const auto want_tokens = greedy(**one);
  auto two = Model::load(exl2_model_dir(), options({{"cuda:0", 0, 3}, {"cuda:0", 3, 6}, {"cuda:0", 6, kLayers}}));
  ASSERT_TRUE(two) << two.error().to_string();
  const auto got = prefill_logits(**two);
  ASSERT_EQ(got.size(), want.size());
  double max_diff = 0;
  for (std::size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, static_cast<double>(std::fabs(got[i] - want[i])));
  std::printf("three ranges on cuda:0: prefill logits max |diff| %.3g\n", max_diff);
  EXPECT_EQ(max_diff, 0.0);  // the same kernels on the same inputs; the hand-off copies fp32 exactly
  EXPECT_EQ(greedy(**two), want_tokens);
  const auto use = (*two)->memory_use();
  ASSERT_EQ(use.size(), 1u);
  EXPECT_EQ(use[0].device, "cuda:0");
}

TEST(PlacementGpu, LoadThatCannotFitIsRefusedBeforeAllocating) {
  NIBBLE_REQUIRE_GPU();
  CUDA_OK(cudaFree(nullptr));
  std::size_t free_before = 0, free_after = 0, total = 0;
  CUDA_OK(cudaMemGetInfo(&free_before, &total));
  LoadOptions o = options({});
  o.reserve_bytes = free_before;  // nothing left for the model
  int progress_calls = 0;
  o.progress = [&](std::size_t, std::size_t) {
    ++progress_calls;
    return true;
  };
  auto m = Model::load(exl2_model_dir(), o);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::out_of_memory);
  const std::string msg = m.error().to_string();
  std::printf("%s\n", msg.c_str());
  EXPECT_NE(msg.find("cuda:0 has"), std::string::npos);
  EXPECT_EQ(progress_calls, 0);
  CUDA_OK(cudaMemGetInfo(&free_after, &total));
  EXPECT_LE(free_before - std::min(free_before, free_after), 8u << 20) << "device memory was taken";
}

// Two or more GPUs: the split path between devices.
void check_two_gpus(bool peer) {
  if (gpu_count() < 2) GTEST_SKIP() << "needs two GPUs";
  if (!peer) setenv("NIBBLE_DISABLE_PEER", "1", 1);
  std::vector<float> want;
  std::vector<std::int32_t> want_tokens;
  double want_ppl = 0;
  {
    auto one = Model::load(exl2_model_dir(), options({}));
    ASSERT_TRUE(one) << one.error().to_string();
    want = prefill_logits(**one);
    want_tokens = greedy(**one);
    want_ppl = ppl(**one);
  }
  for (const auto& split : {std::vector<LayerPlacement>{{"cuda:0", 0, 4}, {"cuda:1", 4, kLayers}},
                            std::vector<LayerPlacement>{{"cuda:1", 0, 4}, {"cuda:0", 4, kLayers}},
                            std::vector<LayerPlacement>{{"cuda:0", 0, 3}, {"cpu", 3, 5}, {"cuda:1", 5, kLayers}}}) {
    auto m = Model::load(exl2_model_dir(), options(split));
    ASSERT_TRUE(m) << m.error().to_string();
    const auto got = prefill_logits(**m);
    double max_diff = 0;
    for (std::size_t i = 0; i < got.size() && i < want.size(); ++i)
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(got[i] - want[i])));
    const double p = ppl(**m);
    std::printf("%s (peer %s): prefill logits max |diff| %.3g, ppl %.4f (one GPU %.4f)\n", describe(split).c_str(),
                peer ? "on" : "off", max_diff, p, want_ppl);
    EXPECT_EQ(greedy(**m), want_tokens) << describe(split);
    EXPECT_NEAR(p, want_ppl, want_ppl * 0.003);
    if (split.size() == 2) {
      EXPECT_EQ(max_diff, 0.0) << describe(split);  // same GPU model: identical kernels
    }
  }
  if (!peer) unsetenv("NIBBLE_DISABLE_PEER");
}

TEST(PlacementGpu, LayerSplitAcrossTwoGpus) { check_two_gpus(true); }
TEST(PlacementGpu, LayerSplitAcrossTwoGpusThroughHostMemory) { check_two_gpus(false); }

// The planner's share for each GPU against the backend counters and the driver (synthetic 7B EXL2).
TEST(PlacementGpu, PlannerMatchesAllocationOnEachGpu) {
  if (gpu_count() < 2) GTEST_SKIP() << "needs two GPUs";
  const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  const std::string dir = (base / ("nibble-placement-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(write_synthetic_model(dir, SyntheticShape{}, SyntheticFormat::exl2).ok());
  auto planner = MemoryPlanner::open(dir);
  ASSERT_TRUE(planner);
  PlacementOptions po;
  po.plan.context = 4096;
  for (const GpuInfo& g : list_gpus())
    if (g.index < 2) po.gpus.push_back({"cuda:" + std::to_string(g.index), g.name, g.free_bytes});
  po.mode = SplitMode::manual;
  po.gpu_split_bytes = {6ull << 30, 80ull << 30};  // about half the 7B on each
  po.cpu_layers = 0;
  auto pl = plan_placement(*planner, po);
  ASSERT_TRUE(pl) << pl.error().to_string();
  ASSERT_TRUE(pl->fits);
  ASSERT_EQ(pl->ranges.size(), 2u);
  std::size_t free0[2], free1[2], total = 0;
  for (int d = 0; d < 2; ++d) {
    CUDA_OK(cudaSetDevice(d));
    CUDA_OK(cudaFree(nullptr));
    CUDA_OK(cudaMemGetInfo(&free0[d], &total));
  }
  {
    LoadOptions lo = options(pl->layers());
    auto m = Model::load(dir, lo);
    ASSERT_TRUE(m) << m.error().to_string();
    for (int d = 0; d < 2; ++d) {
      CUDA_OK(cudaSetDevice(d));
      CUDA_OK(cudaMemGetInfo(&free1[d], &total));
    }
    const auto use = (*m)->memory_use();
    ASSERT_EQ(use.size(), 2u);
    for (int d = 0; d < 2; ++d) {
      const DevicePlacement& r = pl->ranges[static_cast<std::size_t>(d)];
      const DeviceMemoryUse& u = use[static_cast<std::size_t>(d)];
      EXPECT_EQ(u.device, r.device);
      const std::size_t driver = free0[d] - free1[d];
      std::printf("%s layers %d-%d: counters %zu / plan %zu (weights %zu/%zu, kv %zu/%zu, scratch %zu/%zu); "
                  "driver delta %zu (plan + allowance %zu)\n",
                  r.device.c_str(), r.first_layer, r.last_layer - 1, u.total(), r.bytes.total(), u.weights,
                  r.bytes.weights, u.kv_cache, r.bytes.kv_cache, u.scratch, r.bytes.scratch, driver, r.needed());
      EXPECT_EQ(u.weights, r.bytes.weights);
      EXPECT_EQ(u.kv_cache, r.bytes.kv_cache);
      EXPECT_LE(std::fabs(static_cast<double>(u.scratch) - static_cast<double>(r.bytes.scratch)),
                0.05 * static_cast<double>(r.bytes.scratch));
      EXPECT_LE(driver, r.needed());
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nibble
