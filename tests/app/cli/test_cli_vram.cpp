// nibble-cli info --vram on the demo model: the JSON is the engine's plan (same numbers as
// plan_memory), the KV cache follows the q4 layout, the verdicts follow the given GPU sizes, and
// bad options are usage errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "nibble/plan.h"

namespace nibble::cli::test {
namespace {

const std::string kDemoDir = std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";

TEST(CliVram, JsonIsThePlan) {
  auto r = run_cli_args({"info", kDemoDir, "--vram", "--context", "2048", "--cache", "q4", "--gpu-memory", "0.001,24",
                         "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  PlanOptions o;
  o.context = 2048;
  o.kv_cache = KvCacheMode::q4;
  auto plan = plan_memory(kDemoDir, o);
  ASSERT_TRUE(plan);
  EXPECT_EQ(j["context"], 2048);
  EXPECT_EQ(j["kv_cache"], "q4");
  EXPECT_EQ(j["cuda"]["weights"], plan->cuda.weights);
  EXPECT_EQ(j["cuda"]["scratch"], plan->cuda.scratch);
  EXPECT_EQ(j["cpu"]["total"], plan->cpu.total());
  // q4 on CUDA: half a byte per value + an fp16 scale and minimum (4 bytes) per 32 values; K and V,
  // 8 layers, 2 KV heads of 64. The CPU keeps fp32 scales and minimums (8 bytes per 32 values).
  const std::uint64_t values = 2ull * 8 * 2048 * 2 * 64;
  EXPECT_EQ(j["cuda"]["kv_cache"], values / 2 + values / 32 * 4);
  EXPECT_EQ(j["cpu"]["kv_cache"], values / 2 + values / 32 * 8);
  EXPECT_EQ(j["cuda_supports_cache"], true);
  ASSERT_EQ(j["gpus"].size(), 2u);
  EXPECT_EQ(j["gpus"][0]["fits"], false);
  EXPECT_EQ(j["gpus"][1]["fits"], true);
  EXPECT_EQ(j["gpus"][1]["capacity_bytes"], 24ull << 30);
}

TEST(CliVram, TextNamesTheCategoriesAndTheVerdict) {
  auto r = run_cli_args({"info", kDemoDir, "--vram", "--context", "4096", "--cache", "fp16", "--gpu-memory", "24"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* word : {"weights", "kv cache", "scratch", "gpu (cuda)", "cpu", "fits", "4096 tokens"})
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.out;
}

TEST(CliVram, BadOptionsAreUsageErrors) {
  EXPECT_EQ(run_cli_args({"info", kDemoDir, "--vram", "--cache", "q5"}).code, 2);
  EXPECT_EQ(run_cli_args({"info", kDemoDir, "--vram", "--context", "-3"}).code, 2);
  EXPECT_EQ(run_cli_args({"info", kDemoDir, "--vram", "--gpu-memory", "lots"}).code, 2);
  EXPECT_EQ(run_cli_args({"info", kDemoDir, "--context", "4096"}).code, 2);  // only with --vram
  auto missing = run_cli_args({"info", "/nonexistent/model", "--vram"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_FALSE(missing.err.empty());
}

}  // namespace
}  // namespace nibble::cli::test
