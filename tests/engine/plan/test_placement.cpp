// Placement (engine/plan/placement.cpp) on the demo model with GPUs described by their free
// memory: ranges cover every layer in order, each GPU holds as many layers as its budget allows
// and no more, the CPU takes exactly the layers asked, an unfitting setup gives advice that does
// fit when followed, and bad options are typed errors. Loading a placement on the CPU backend:
// identical logits to one segment, per-device memory equal to the planned ranges (by the backend's
// own counters), and a load that cannot fit is refused before anything is allocated.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>

#include "nibble/bench.h"
#include "nibble/devices.h"
#include "nibble/model.h"
#include "nibble/plan.h"

namespace nibble {
namespace {

const std::string kDemo = std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";
constexpr int kLayers = 8;

MemoryPlanner planner() {
  auto p = MemoryPlanner::open(kDemo);
  EXPECT_TRUE(p) << p.error().to_string();
  return *p;
}

PlanOptions plan_options(int context = 2048) {
  PlanOptions po;
  po.context = context;
  return po;
}

std::size_t overhead() { return plan_memory(kDemo, plan_options())->cuda_runtime_overhead; }

// What a GPU range [first, last) needs, runtime allowance included.
std::size_t gpu_need(const MemoryPlanner& p, int first, int last, int context = 2048) {
  return p.segment(plan_options(context), first, last, first == 0, last == kLayers).cuda.total() + overhead();
}

void expect_covering(const Placement& pl) {
  ASSERT_FALSE(pl.ranges.empty());
  int at = 0;
  for (const DevicePlacement& r : pl.ranges) {
    EXPECT_EQ(r.first_layer, at);
    EXPECT_GT(r.last_layer, r.first_layer);
    EXPECT_EQ(r.embedding, r.first_layer == 0);
    at = r.last_layer;
  }
  EXPECT_EQ(at, kLayers);
  EXPECT_TRUE(pl.ranges.back().head);
  for (std::size_t i = 0; i + 1 < pl.ranges.size(); ++i) EXPECT_FALSE(pl.ranges[i].head);
}

TEST(Placement, AutoFillsGpusInOrderUpToTheirBudgets) {
  const MemoryPlanner p = planner();
  PlacementOptions o;
  o.plan = plan_options();
  o.cpu_layers = 0;
  // GPU 0 holds exactly layers 0..2 (with the embedding) plus a little; GPU 1 everything.
  const std::size_t g0 = gpu_need(p, 0, 3) + 1000;
  ASSERT_LT(g0, gpu_need(p, 0, 4));
  o.reserve_bytes = 4096;
  o.gpus = {{"cuda:0", "A", g0 + o.reserve_bytes}, {"cuda:1", "B", 64ull << 30}};
  auto pl = plan_placement(p, o);
  ASSERT_TRUE(pl) << pl.error().to_string();
  EXPECT_TRUE(pl->fits);
  expect_covering(*pl);
  ASSERT_EQ(pl->ranges.size(), 2u);
  EXPECT_EQ(pl->ranges[0].device, "cuda:0");
  EXPECT_EQ(pl->ranges[0].last_layer, 3);
  EXPECT_EQ(pl->ranges[0].budget_bytes, g0);
  EXPECT_EQ(pl->ranges[1].device, "cuda:1");
  for (const DevicePlacement& r : pl->ranges) {
    EXPECT_LE(r.needed(), r.budget_bytes) << r.device;
    EXPECT_EQ(r.runtime_overhead, overhead());
  }
  EXPECT_TRUE(pl->advice.empty());
  // LoadOptions form.
  const auto lp = pl->layers();
  ASSERT_EQ(lp.size(), 2u);
  EXPECT_EQ(lp[1].device, "cuda:1");
  EXPECT_EQ(lp[1].first_layer, 3);
  EXPECT_EQ(lp[1].last_layer, kLayers);
}

TEST(Placement, GpuTooSmallForAnyLayerIsSkipped) {
  const MemoryPlanner p = planner();
  PlacementOptions o;
  o.plan = plan_options();
  o.cpu_layers = 0;
  o.gpus = {{"cuda:0", "tiny", overhead() / 2}, {"cuda:1", "big", 64ull << 30}};
  auto pl = plan_placement(p, o);
  ASSERT_TRUE(pl);
  ASSERT_EQ(pl->ranges.size(), 1u);
  EXPECT_EQ(pl->ranges[0].device, "cuda:1");
  EXPECT_TRUE(pl->ranges[0].embedding);
  expect_covering(*pl);
}

TEST(Placement, ManualSplitMovesLayersBetweenGpus) {
  const MemoryPlanner p = planner();
  PlacementOptions o;
  o.plan = plan_options();
  o.cpu_layers = 0;
  o.mode = SplitMode::manual;
  o.gpus = {{"cuda:0", "A", 64ull << 30}, {"cuda:1", "B", 64ull << 30}};
  int prev = 0;
  for (int want : {2, 4, 6}) {
    o.gpu_split_bytes = {gpu_need(p, 0, want) + 10, 64ull << 30};
    auto pl = plan_placement(p, o);
    ASSERT_TRUE(pl) << pl.error().to_string();
    EXPECT_TRUE(pl->fits);
    expect_covering(*pl);
    ASSERT_EQ(pl->ranges.size(), 2u);
    EXPECT_EQ(pl->ranges[0].last_layer, want);
    EXPECT_GT(want, prev);
    prev = want;
  }
  // A manual budget above what the GPU has free is capped at its free memory.
  o.gpus[0].free_bytes = gpu_need(p, 0, 1) + 10;
  o.gpu_split_bytes = {gpu_need(p, 0, 6) + 10, 64ull << 30};
  auto capped = plan_placement(p, o);
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped->ranges[0].last_layer, 1);
}

TEST(Placement, CpuTakesExactlyTheFirstNLayers) {
  const MemoryPlanner p = planner();
  PlacementOptions o;
  o.plan = plan_options();
  o.cpu.free_bytes = 16ull << 30;
  o.gpus = {{"cuda:0", "A", 64ull << 30}};
  for (int n : {1, 3, 7}) {
    o.cpu_layers = n;
    auto pl = plan_placement(p, o);
    ASSERT_TRUE(pl);
    expect_covering(*pl);
    ASSERT_EQ(pl->ranges.size(), 2u);
    EXPECT_EQ(pl->ranges[0].device, "cpu");
    EXPECT_EQ(pl->ranges[0].last_layer, n);
    EXPECT_EQ(pl->ranges[0].runtime_overhead, 0u);
    EXPECT_EQ(pl->ranges[0].bytes.total(), p.segment(o.plan, 0, n, true, false).cpu.total());
    EXPECT_EQ(pl->ranges[1].device, "cuda:0");
    EXPECT_TRUE(pl->ranges[1].head);  // the head stays on the GPU
    EXPECT_EQ(pl->cpu_layer_count, n);
  }
  o.cpu_layers = kLayers;  // everything on the CPU, head included
  auto all = plan_placement(p, o);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->ranges.size(), 1u);
  EXPECT_EQ(all->ranges[0].device, "cpu");
  EXPECT_TRUE(all->ranges[0].head);
}

TEST(Placement, AutoOffloadsTheLeastLayersThatFit) {
  const MemoryPlanner p = planner();
  PlacementOptions o;
  o.plan = plan_options();
  o.cpu.free_bytes = 16ull << 30;
  o.cpu_layers = -1;
  // Room for layers 3..7 + head but not 2..7.
  const std::size_t g = gpu_need(p, 3, kLayers) + 100;
  ASSERT_GT(p.segment(o.plan, 2, kLayers, false, true).cuda.total() + overhead(), g);
  o.gpus = {{"cuda:0", "A", g}};
  auto pl = plan_placement(p, o);
  ASSERT_TRUE(pl);
  EXPECT_TRUE(pl->fits);
  expect_covering(*pl);
  EXPECT_EQ(pl->cpu_layer_count, 3);
  ASSERT_EQ(pl->ranges.size(), 2u);
  EXPECT_EQ(pl->ranges[0].last_layer, 3);
  ASSERT_FALSE(pl->advice.empty());  // says what the offload costs
  EXPECT_NE(pl->advice[0].find("CPU"), std::string::npos);
  // With room for everything, nothing goes to the CPU.
  o.gpus[0].free_bytes = 64ull << 30;
  auto none = plan_placement(p, o);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->cpu_layer_count, 0);
  EXPECT_EQ(none->ranges.size(), 1u);
  EXPECT_TRUE(none->advice.empty());
}

TEST(Placement, UnfittingSetupGivesAdviceThatFits) {
  const MemoryPlanner p = planner();
  PlacementOptions o;
  o.plan = plan_options(2048);
  o.cpu.free_bytes = 16ull << 30;
  o.cpu_layers = 0;
  // Every layer fits at 512 tokens but not at 2048.
  const std::size_t g = gpu_need(p, 0, kLayers, 512) + 100;
  ASSERT_LT(g, gpu_need(p, 0, kLayers, 2048));
  o.gpus = {{"cuda:0", "A", g}};
  auto pl = plan_placement(p, o);
  ASSERT_TRUE(pl);
  EXPECT_FALSE(pl->fits);
  std::string all;
  for (const auto& a : pl->advice) all += a + "\n";
  EXPECT_NE(all.find("cuda:0 would need"), std::string::npos) << all;
  EXPECT_NE(all.find("layers on the CPU (--cpu-layers"), std::string::npos) << all;
  const auto ctx_at = all.find("Use a context of ");
  ASSERT_NE(ctx_at, std::string::npos) << all;
  const int ctx = std::stoi(all.substr(ctx_at + 17));
  EXPECT_GE(ctx, 512);
  EXPECT_LT(ctx, 2048);
  // Following the advice fits; the next page does not.
  PlacementOptions shorter = o;
  shorter.plan.context = ctx;
  EXPECT_TRUE(plan_placement(p, shorter)->fits);
  shorter.plan.context = ctx + 64;
  EXPECT_FALSE(plan_placement(p, shorter)->fits);
  // "fit the largest context" finds the same length.
  PlacementOptions fit = o;
  fit.mode = SplitMode::fit_context;
  auto f = plan_placement(p, fit);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->fits);
  EXPECT_EQ(f->context, ctx);
  // The CPU advice, followed, fits too.
  const auto k_at = all.find("--cpu-layers ");
  const int k = std::stoi(all.substr(k_at + 13));
  PlacementOptions off = o;
  off.cpu_layers = k;
  EXPECT_TRUE(plan_placement(p, off)->fits) << k;
  off.cpu_layers = k - 1;
  EXPECT_FALSE(plan_placement(p, off)->fits) << k;
}

TEST(Placement, BadOptionsAreTypedErrors) {
  const MemoryPlanner p = planner();
  PlacementOptions o;
  o.plan = plan_options();
  o.gpus = {{"cuda:0", "A", 1ull << 30}};
  o.cpu_layers = kLayers + 1;
  EXPECT_EQ(plan_placement(p, o).error().kind, ErrorKind::invalid_argument);
  o.cpu_layers = 0;
  o.mode = SplitMode::manual;
  o.gpu_split_bytes = {1, 2};
  EXPECT_EQ(plan_placement(p, o).error().kind, ErrorKind::invalid_argument);
  o.mode = SplitMode::auto_fill;
  o.gpus.clear();
  EXPECT_EQ(plan_placement(p, o).error().kind, ErrorKind::invalid_argument);
  o.gpus = {{"cpu", "not a GPU", 1ull << 30}};
  EXPECT_EQ(plan_placement(p, o).error().kind, ErrorKind::invalid_argument);
  o.gpus = {{"cuda:0", "A", 1ull << 30}};
  o.plan.page_size = 0;
  EXPECT_EQ(plan_placement(p, o).error().kind, ErrorKind::invalid_argument);
  EXPECT_EQ(plan_placement(MemoryPlanner(), PlacementOptions{}).error().kind, ErrorKind::invalid_argument);
}

std::vector<float> logits_of(Model& m) {
  const std::vector<std::int32_t> ids = {648, 579, 275, 276, 521, 35, 743, 806, 80, 460, 2081, 393};
  std::vector<float> logits;
  auto seq = m.new_sequence();
  EXPECT_TRUE(seq->append(ids, true, logits).ok());
  return logits;
}

TEST(PlacementLoad, CpuRangesMatchOneSegmentAndThePlannedBytes) {
  LoadOptions one;
  one.context = 512;
  one.threads = 2;
  auto base = Model::load(kDemo, one);
  ASSERT_TRUE(base) << base.error().to_string();
  const auto want = logits_of(**base);
  LoadOptions lo = one;
  lo.device = "cuda:7";  // ignored when a placement is given
  lo.placement = {{"cpu", 0, 3}, {"cpu", 3, 5}, {"cpu", 5, kLayers}};
  auto m = Model::load(kDemo, lo);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(logits_of(**m), want);
  const auto use = (*m)->memory_use();
  ASSERT_EQ(use.size(), 1u);  // one device, three segments
  EXPECT_EQ(use[0].device, "cpu");
  const MemoryPlanner p = planner();
  PlanOptions po;
  po.context = 512;
  MemorySplit sum;
  for (auto [a, b] : {std::pair{0, 3}, std::pair{3, 5}, std::pair{5, kLayers}}) {
    const MemorySplit s = p.segment(po, a, b, a == 0, b == kLayers).cpu;
    sum.weights += s.weights;
    sum.kv_cache += s.kv_cache;
    sum.scratch += s.scratch;
  }
  EXPECT_EQ(use[0].weights, sum.weights);
  EXPECT_EQ(use[0].kv_cache, sum.kv_cache);
  EXPECT_EQ(use[0].scratch, sum.scratch);
}

TEST(PlacementLoad, MalformedPlacementsAreRefused) {
  const std::vector<std::vector<LayerPlacement>> bad = {
      {{"cpu", 0, 3}, {"cpu", 4, kLayers}},          // gap
      {{"cpu", 0, 4}, {"cpu", 3, kLayers}},          // overlap
      {{"cpu", 0, 4}},                               // short
      {{"cpu", 0, 0}, {"cpu", 0, kLayers}},          // empty range
      {{"cpu", 0, 4}, {"tpu:0", 4, kLayers}},        // unknown device
      {{"cpu", 0, kLayers + 1}},                     // past the last layer
  };
  for (const auto& pl : bad) {
    LoadOptions lo;
    lo.context = 256;
    lo.placement = pl;
    auto m = Model::load(kDemo, lo);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().kind, ErrorKind::invalid_argument) << m.error().to_string();
    EXPECT_NE(m.error().to_string().find("placement"), std::string::npos) << m.error().to_string();
  }
}

TEST(PlacementLoad, TooLittleMemoryIsRefusedBeforeAllocating) {
  const HostMemory host = host_memory();
  if (host.available_bytes == 0) GTEST_SKIP() << "host memory is not readable here";
  if (host.available_bytes > (100ull << 30)) GTEST_SKIP() << "this host could hold the 128 GiB cache";
  LoadOptions lo;
  lo.context = 1 << 24;  // a 16M-token fp32 KV cache: 16M x 8 layers x K,V x 2 heads x 64 x 4 bytes = 128 GiB
  lo.reserve_bytes = host.available_bytes;  // a GPU reserve: not applied to host memory
  std::atomic<int> progress_calls{0};
  lo.progress = [&](std::size_t, std::size_t) {
    ++progress_calls;
    return true;
  };
  auto m = Model::load(kDemo, lo);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::out_of_memory);
  const std::string msg = m.error().to_string();
  EXPECT_NE(msg.find("cpu has"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("reserve"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Nothing was loaded"), std::string::npos) << msg;
  EXPECT_EQ(progress_calls.load(), 0) << "weights were placed before the memory check";
}

// The synthetic EXL2 writer at 2.5 bits (the 70B-shaped benchmark model): half the groups at 3
// bits, half at 2, which the loader reads back as 2.5 bits per weight (plus the per-group scales)
// and the CPU backend runs.
TEST(SyntheticModel, MixedBitExl2Loads) {
  const std::string dir = ::testing::TempDir() + "/nibble-synthetic-2.5";
  std::filesystem::remove_all(dir);
  SyntheticShape shape;
  shape.hidden = 256;
  shape.intermediate = 512;
  shape.layers = 2;
  shape.heads = 4;
  shape.kv_heads = 2;
  shape.vocab = 256;
  shape.max_positions = 256;
  shape.exl2_bits = 2.5;
  ASSERT_TRUE(write_synthetic_model(dir, shape, SyntheticFormat::exl2).ok());
  auto info = inspect_model(dir);
  ASSERT_TRUE(info) << info.error().to_string();
  bool saw = false;
  for (const LayerTypeInfo& t : info->layer_types)
    if (t.name == "mlp.down_proj") {
      saw = true;
      EXPECT_GE(t.bits_per_weight, 2.5) << t.detail;
      EXPECT_LT(t.bits_per_weight, 2.75) << t.detail;  // + scales per group
      EXPECT_NE(t.detail.find("2"), std::string::npos) << t.detail;
      EXPECT_NE(t.detail.find("3"), std::string::npos) << t.detail;
    }
  EXPECT_TRUE(saw);
  LoadOptions lo;
  lo.context = 64;
  auto m = Model::load(dir, lo);
  ASSERT_TRUE(m) << m.error().to_string();
  std::vector<float> logits;
  auto seq = (*m)->new_sequence();
  const std::vector<std::int32_t> ids = {1, 5, 9};
  ASSERT_TRUE(seq->append(ids, false, logits).ok());
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  shape.exl2_bits = 1.5;
  EXPECT_EQ(write_synthetic_model(dir + "-bad", shape, SyntheticFormat::exl2).error().kind, ErrorKind::invalid_argument);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nibble
