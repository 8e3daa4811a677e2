// The memory plan against what the CUDA backend allocates for the synthetic Llama-2-7B shape at a
// 4k context: each category of Model::memory_use() (the backend's own allocation counters) within
// 5% of the plan (the acceptance bound), and the device memory cudaMemGetInfo sees going away during
// the load within the plan's total plus its runtime allowance. Runs on the GPU machine (label gpu).
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "gpu_test_util.h"
#include "nibble/bench.h"
#include "nibble/model.h"
#include "nibble/plan.h"

namespace nibble {
namespace {

std::string scratch_dir(const char* what) {
  const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  return (base / ("nibble-plan-" + std::to_string(getpid()) + "-" + what)).string();
}

double rel(std::size_t got, std::size_t want) {
  return want == 0 ? (got == 0 ? 0.0 : 1.0) : std::fabs(static_cast<double>(got) - static_cast<double>(want)) / static_cast<double>(want);
}

void check_format(SyntheticFormat format) {
  const std::string dir = scratch_dir(synthetic_format_name(format));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(write_synthetic_model(dir, SyntheticShape{}, format).ok());
  cudaDeviceProp props{};
  ASSERT_EQ(cudaGetDeviceProperties(&props, 0), cudaSuccess);
  PlanOptions po;
  po.context = 4096;
  po.gpu_sm_count = props.multiProcessorCount;
  auto plan = plan_memory(dir, po);
  ASSERT_TRUE(plan) << plan.error().to_string();

  cudaFree(nullptr);  // the context exists before the baseline
  std::size_t free_before = 0, free_after = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
  {
    LoadOptions lo;
    lo.device = "cuda:0";
    lo.context = 4096;
    auto model = Model::load(dir, lo);
    ASSERT_TRUE(model) << model.error().to_string();
    ASSERT_EQ(cudaMemGetInfo(&free_after, &total), cudaSuccess);
    const auto use = (*model)->memory_use();
    ASSERT_EQ(use.size(), 1u);
    const DeviceMemoryUse& u = use[0];
    const std::size_t driver = free_before - free_after;
    std::printf("%s 4k: weights %zu / plan %zu (%.3f%%), kv %zu / %zu, scratch %zu / %zu, total %zu / %zu (%.3f%%); "
                "cudaMemGetInfo delta %zu (plan + %zu allowance = %zu)\n",
                synthetic_format_name(format), u.weights, plan->cuda.weights, 100 * rel(u.weights, plan->cuda.weights),
                u.kv_cache, plan->cuda.kv_cache, u.scratch, plan->cuda.scratch, u.total(), plan->cuda.total(),
                100 * rel(u.total(), plan->cuda.total()), driver, plan->cuda_runtime_overhead,
                plan->cuda.total() + plan->cuda_runtime_overhead);
    EXPECT_LT(rel(u.weights, plan->cuda.weights), 0.05);
    EXPECT_LT(rel(u.kv_cache, plan->cuda.kv_cache), 0.05);
    EXPECT_LT(rel(u.scratch, plan->cuda.scratch), 0.05);
    EXPECT_LT(rel(u.total(), plan->cuda.total()), 0.05);
    EXPECT_GE(driver + (64u << 20), plan->cuda.total());
    EXPECT_LE(driver, plan->cuda.total() + plan->cuda_runtime_overhead);
  }
  std::filesystem::remove_all(dir);
}

TEST(GpuMemoryPlan, Synthetic7bExl2At4kMatchesTheBackend) {
  NIBBLE_REQUIRE_GPU();
  check_format(SyntheticFormat::exl2);
}

TEST(GpuMemoryPlan, Synthetic7bGptqAt4kMatchesTheBackend) {
  NIBBLE_REQUIRE_GPU();
  check_format(SyntheticFormat::gptq);
}

}  // namespace
}  // namespace nibble
