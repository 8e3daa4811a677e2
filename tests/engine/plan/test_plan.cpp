// The memory plan against outside oracles: the safetensors headers (parsed here, independently of
// engine/io), the KV layouts written out from their definitions (fp16/fp32 values; q8: one byte per
// value + a 4-byte scale per 32; q4: half a byte + 4-byte scale and minimum per 32; on the CUDA
// backend the scales and minimums are 2 bytes), and the CPU backend's own allocation counters after
// a real load.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "nibble/bench.h"
#include "nibble/model.h"
#include "nibble/plan.h"
#include "nibble/devices.h"
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

namespace nibble {
namespace {

const std::string kDemo = std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";
const std::string kExl2 = std::string(NIBBLE_TEST_DATA_DIR) + "/models/dictlm-16m-exl2-4.0";

// name -> (dtype, bytes) straight from a safetensors header: u64 length + JSON with data_offsets.
std::map<std::string, std::pair<std::string, std::uint64_t>> header_tensors(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  const auto j = nlohmann::json::parse(text);
  std::map<std::string, std::pair<std::string, std::uint64_t>> out;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") continue;
    out[name] = {v["dtype"].get<std::string>(),
                 v["data_offsets"][1].get<std::uint64_t>() - v["data_offsets"][0].get<std::uint64_t>()};
  }
  return out;
}

std::uint64_t header_total(const std::string& file) {
  std::uint64_t t = 0;
  for (const auto& [name, v] : header_tensors(file)) t += v.second;
  return t;
}

// Demo model: 8 layers, 2 KV heads of 64, fp16 everywhere, untied head.
constexpr int kLayers = 8, kKvHeads = 2, kHeadDim = 64, kHeadDimHalf = 32;

TEST(MemoryPlan, FileBytesEqualTheHeaders) {
  for (const auto& [dir, file] : {std::pair{kDemo, kDemo + "/model.safetensors"},
                                  std::pair{kExl2, kExl2 + "/output.safetensors"}}) {
    auto plan = plan_memory(dir);
    ASSERT_TRUE(plan) << plan.error().to_string();
    EXPECT_EQ(plan->file_tensor_bytes, header_total(file)) << dir;
  }
}

TEST(MemoryPlan, Fp16WeightsAreTheFileTensors) {
  const auto tensors = header_tensors(kDemo + "/model.safetensors");
  std::uint64_t total = 0, norms = 0;
  for (const auto& [name, v] : tensors) {
    ASSERT_EQ(v.first, "F16") << name;
    total += v.second;
    if (name.find("norm.weight") != std::string::npos) norms += v.second;
  }
  auto plan = plan_memory(kDemo);
  ASSERT_TRUE(plan) << plan.error().to_string();
  // GPU: every fp16 tensor as stored, plus the fp32 RoPE table [head_dim / 2].
  EXPECT_EQ(plan->cuda.weights, total + kHeadDimHalf * 4);
  // CPU: fp16 matrices as stored, norms widened to fp32.
  EXPECT_EQ(plan->cpu.weights, total + norms);
}

TEST(MemoryPlan, Exl2WeightsFollowTheFileLayout) {
  const auto tensors = header_tensors(kExl2 + "/output.safetensors");
  std::uint64_t total = 0, groups_tables = 0;
  for (const auto& [name, v] : tensors) {
    total += v.second;
    if (name.size() > 9 && name.compare(name.size() - 9, 9, ".q_groups") == 0) groups_tables += v.second;
  }
  auto plan = plan_memory(kExl2);
  ASSERT_TRUE(plan) << plan.error().to_string();
  // Columns are multiples of 128 here, so codes, scales and permutations upload as stored; the
  // group table grows from 2 x int16 to 4 x int32 per group and a split plan of a few int2s is added.
  const std::uint64_t expected = total - groups_tables + groups_tables * 4 + kHeadDimHalf * 4;
  EXPECT_GE(plan->cuda.weights, expected);
  EXPECT_LE(plan->cuda.weights, expected + 8 * 8 * 64 + 64 * 8);
}

std::uint64_t pages_for(int context, int page) { return static_cast<std::uint64_t>((context + page - 1) / page) * page; }

TEST(MemoryPlan, KvBytesFollowTheLayouts) {
  for (int context : {1, 100, 1024, 2048, 5000}) {
    for (KvCacheMode mode : {KvCacheMode::fp16, KvCacheMode::q8, KvCacheMode::q4}) {
      PlanOptions o;
      o.context = context;
      o.kv_cache = mode;
      auto plan = plan_memory(kDemo, o);
      ASSERT_TRUE(plan) << plan.error().to_string();
      const std::uint64_t pos = pages_for(context, 64);
      const std::uint64_t values = 2ull * kLayers * pos * kKvHeads * kHeadDim;  // K and V
      std::uint64_t gpu = 0, cpu = 0;
      switch (mode) {
        case KvCacheMode::fp16: gpu = values * 2; cpu = values * 4; break;
        // CPU: fp32 scales (and q4 minimums); CUDA: the same codes with fp16 ones.
        case KvCacheMode::q8: cpu = values + values / 32 * 4; gpu = values + values / 32 * 2; break;
        case KvCacheMode::q4: cpu = values / 2 + values / 32 * 8; gpu = values / 2 + values / 32 * 4; break;
      }
      EXPECT_EQ(plan->context, static_cast<int>(pos));
      EXPECT_EQ(plan->cuda.kv_cache, gpu) << context << " " << kv_cache_mode_name(mode);
      EXPECT_EQ(plan->cpu.kv_cache, cpu) << context << " " << kv_cache_mode_name(mode);
      EXPECT_DOUBLE_EQ(plan->cpu_kv_bytes_per_token, static_cast<double>(cpu) / pos);
      EXPECT_TRUE(plan->cuda_supports_cache);  // head_dim 64: every cache type runs on CUDA
    }
  }
}

// The CUDA q8/q4 caches need a head_dim whose quantization group (32, or head_dim when 32 does not
// divide it) is a multiple of 8: head_dim 36 (one group of 36) is flagged, fp16 is not, and the
// CPU's q8/q4 cache (any even head_dim) keeps its own layout: one group of 36 values a row.
TEST(MemoryPlan, CudaQuantizedCacheNeedsASupportedHeadDim) {
  const std::filesystem::path base =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  const std::string dir = (base / ("nibble-plan-hd36-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  SyntheticShape shape;
  shape.hidden = 1152;  // 32 heads of 36
  shape.intermediate = 128;
  shape.layers = 1;
  shape.heads = 32;
  shape.kv_heads = 8;
  shape.vocab = 256;
  shape.max_positions = 256;
  ASSERT_TRUE(write_synthetic_model(dir, shape, SyntheticFormat::fp16).ok());
  for (KvCacheMode mode : {KvCacheMode::fp16, KvCacheMode::q8, KvCacheMode::q4}) {
    PlanOptions o;
    o.context = 256;
    o.kv_cache = mode;
    auto plan = plan_memory(dir, o);
    ASSERT_TRUE(plan) << plan.error().to_string();
    EXPECT_EQ(plan->cuda_supports_cache, mode == KvCacheMode::fp16) << kv_cache_mode_name(mode);
    const std::uint64_t values = 2ull * 256 * 8 * 36, groups = values / 36;
    if (mode == KvCacheMode::q4) {
      EXPECT_EQ(plan->cpu.kv_cache, values / 2 + groups * 8);
      EXPECT_EQ(plan->cuda.kv_cache, values / 2 + groups * 4);
    }
  }
  std::filesystem::remove_all(dir);
}

// The plan's CPU split against what the CPU backend counted after loading the same settings.
TEST(MemoryPlan, CpuPlanMatchesTheBackendCounters) {
  struct Case {
    std::string dir;
    int context;
    KvCacheMode mode;
    int max_batch;
    std::vector<int> split;
  };
  const Case cases[] = {{kDemo, 2048, KvCacheMode::fp16, 512, {}},
                        {kDemo, 300, KvCacheMode::q8, 64, {}},
                        {kDemo, 1000, KvCacheMode::q4, 128, {3, 6}},
                        {kExl2, 512, KvCacheMode::fp16, 32, {}}};
  for (const Case& c : cases) {
    PlanOptions po;
    po.context = c.context;
    po.kv_cache = c.mode;
    po.max_batch_tokens = c.max_batch;
    po.split_layers = c.split;
    auto plan = plan_memory(c.dir, po);
    ASSERT_TRUE(plan) << plan.error().to_string();
    LoadOptions lo;
    lo.context = c.context;
    lo.kv_cache = c.mode;
    lo.max_batch_tokens = c.max_batch;
    lo.split_layers = c.split;
    lo.threads = 1;
    auto model = Model::load(c.dir, lo);
    ASSERT_TRUE(model) << model.error().to_string();
    const auto use = (*model)->memory_use();
    ASSERT_EQ(use.size(), 1u);
    EXPECT_EQ(use[0].device, "cpu");
    EXPECT_EQ(use[0].weights, plan->cpu.weights) << c.dir;
    EXPECT_EQ(use[0].kv_cache, plan->cpu.kv_cache) << c.dir;
    EXPECT_EQ(use[0].scratch, plan->cpu.scratch) << c.dir;
    EXPECT_GT((*model)->load_seconds(), 0.0);
  }
}

TEST(MemoryPlan, VerdictPerGpuSize) {
  PlanOptions o;
  o.context = 2048;
  o.gpu_memory_bytes = {1ull << 20, 24ull << 30, 80ull << 30};
  auto plan = plan_memory(kDemo, o);
  ASSERT_TRUE(plan) << plan.error().to_string();
  ASSERT_EQ(plan->gpus.size(), 3u);
  EXPECT_FALSE(plan->gpus[0].fits);
  EXPECT_EQ(plan->gpus[0].max_context, 0);
  EXPECT_EQ(plan->gpus[0].needed_bytes, plan->cuda.total() + plan->cuda_runtime_overhead);
  EXPECT_TRUE(plan->gpus[1].fits);
  EXPECT_EQ(plan->gpus[1].headroom_bytes, (24ull << 30) - plan->gpus[1].needed_bytes);
  EXPECT_EQ(plan->gpus[1].max_context, 2048);  // the demo model's max positions
  EXPECT_EQ(plan->gpus[2].max_context, 2048);
  // A GPU just big enough for the plan at 1024 tokens: the longest context is 1024 (whole pages).
  PlanOptions small;
  small.context = 1024;
  auto at1k = plan_memory(kDemo, small);
  ASSERT_TRUE(at1k);
  small.gpu_memory_bytes = {at1k->cuda.total() + at1k->cuda_runtime_overhead, at1k->cuda.total() + at1k->cuda_runtime_overhead - 1};
  auto tight = plan_memory(kDemo, small);
  ASSERT_TRUE(tight);
  EXPECT_TRUE(tight->gpus[0].fits);
  EXPECT_EQ(tight->gpus[0].headroom_bytes, 0u);
  EXPECT_EQ(tight->gpus[0].max_context, 1024);
  EXPECT_FALSE(tight->gpus[1].fits);
  EXPECT_EQ(tight->gpus[1].max_context, 960);
}

TEST(MemoryPlan, BadInputIsATypedError) {
  auto missing = plan_memory("/nonexistent/model");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
  PlanOptions o;
  o.max_batch_tokens = 0;
  auto bad = plan_memory(kDemo, o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::invalid_argument);
  o = {};
  o.split_layers = {5, 3};
  auto split = plan_memory(kDemo, o);
  ASSERT_FALSE(split);
  EXPECT_EQ(split.error().kind, ErrorKind::invalid_argument);
  KvCacheMode m;
  EXPECT_FALSE(parse_kv_cache_mode("q5", m));
  EXPECT_TRUE(parse_kv_cache_mode("q4", m));
  EXPECT_EQ(m, KvCacheMode::q4);
}

}  // namespace
}  // namespace nibble

namespace nibble {
namespace {

// NVML pointed at a library that does not exist: not available, no devices, no error. (Each
// test runs in its own process, so this is the process's first NVML call.)
TEST(Telemetry, NvmlAbsentIsHiddenNotAnError) {
  ::setenv("NIBBLE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  EXPECT_FALSE(nvml_available());
  EXPECT_TRUE(gpu_telemetry().empty());
}

TEST(Telemetry, ProcessRssIsReadable) {
  const std::size_t rss = process_rss_bytes();
  EXPECT_GT(rss, 1u << 20);                      // a test binary maps more than a MiB
  EXPECT_LT(rss, host_memory().total_bytes);
}

}  // namespace
}  // namespace nibble
