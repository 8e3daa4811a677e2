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

// info --plan: the placement JSON over GPUs given by their free memory, the CPU layers flag,
// a manual split, and the advice when the model does not fit.
TEST(CliPlan, JsonPlacesEveryLayerInOrder) {
  auto r = run_cli_args({"info", kDemoDir, "--plan", "--context", "2048", "--gpu-memory", "24,24", "--cpu-layers", "3",
                         "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["fits"], true);
  EXPECT_EQ(j["cpu_layers"], 3);
  ASSERT_EQ(j["ranges"].size(), 2u);  // the CPU, then GPU 0 with everything left
  EXPECT_EQ(j["ranges"][0]["device"], "cpu");
  EXPECT_EQ(j["ranges"][0]["last_layer"], 3);
  EXPECT_EQ(j["ranges"][1]["device"], "cuda:0");
  EXPECT_EQ(j["ranges"][1]["first_layer"], 3);
  EXPECT_EQ(j["ranges"][1]["last_layer"], 8);
  EXPECT_EQ(j["ranges"][1]["head"], true);
  auto planner = MemoryPlanner::open(kDemoDir);
  ASSERT_TRUE(planner);
  PlanOptions po;
  po.context = 2048;
  EXPECT_EQ(j["ranges"][1]["bytes"]["total"], planner->segment(po, 3, 8, false, true).cuda.total());
}

TEST(CliPlan, ManualSplitAndAdvice) {
  // 0.64 GiB holds the demo model with the CUDA runtime allowance; 0.6 GiB does not.
  auto ok = run_cli_args({"info", kDemoDir, "--plan", "--gpu-memory", "1,1", "--gpu-split", "0.7,0.7", "--json"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(ok.out)["ranges"].size(), 1u);
  auto tight = run_cli_args({"info", kDemoDir, "--plan", "--gpu-memory", "0.6", "--cpu-layers", "0"});
  ASSERT_EQ(tight.code, 0) << tight.err;
  EXPECT_NE(tight.out.find("DOES NOT FIT"), std::string::npos) << tight.out;
  EXPECT_NE(tight.out.find("--cpu-layers"), std::string::npos) << tight.out;
  auto bad = run_cli_args({"info", kDemoDir, "--plan", "--gpu-memory", "1", "--gpu-split", "1,1"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--gpu-split names 2 GPUs"), std::string::npos) << bad.err;
  auto mixed = run_cli_args({"info", kDemoDir, "--cpu-layers", "2"});
  EXPECT_EQ(mixed.code, 2);
  EXPECT_NE(mixed.err.find("go with --plan"), std::string::npos) << mixed.err;
}

// info --plan --tensor-parallel: one range per GPU over every layer, the head on the first, each
// GPU's bytes the planner's share for it (half the KV cache of the whole model on one GPU); a
// single GPU, or a CPU layer count with it, is refused; --tensor-parallel on a loading command
// needs two GPUs.
TEST(CliPlan, TensorParallelSharesEveryLayer) {
  auto r = run_cli_args({"info", kDemoDir, "--plan", "--context", "2048", "--gpu-memory", "8,8", "--tensor-parallel", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["fits"], true);
  EXPECT_EQ(j["tensor_parallel"], true);
  ASSERT_EQ(j["ranges"].size(), 2u);
  auto planner = MemoryPlanner::open(kDemoDir);
  ASSERT_TRUE(planner);
  PlanOptions po;
  po.context = 2048;
  const SegmentMemory whole = planner->segment(po, 0, 8, true, true);
  for (int i = 0; i < 2; ++i) {
    const auto& g = j["ranges"][static_cast<std::size_t>(i)];
    EXPECT_EQ(g["device"], "cuda:" + std::to_string(i));
    EXPECT_EQ(g["first_layer"], 0);
    EXPECT_EQ(g["last_layer"], 8);
    EXPECT_EQ(g["head"], i == 0);
    EXPECT_EQ(g["bytes"]["total"], planner->tensor_parallel_share(po, 2, i).total());
    EXPECT_EQ(g["bytes"]["kv_cache"], whole.cuda.kv_cache / 2);
    EXPECT_LT(g["bytes"]["weights"].get<std::size_t>(), whole.cuda.weights);
  }
  auto text = run_cli_args({"info", kDemoDir, "--plan", "--gpu-memory", "8,8", "--tensor-parallel"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("share of 0-7"), std::string::npos) << text.out;
  auto one = run_cli_args({"info", kDemoDir, "--plan", "--gpu-memory", "8", "--tensor-parallel"});
  EXPECT_EQ(one.code, 2);
  EXPECT_NE(one.err.find("two or more GPUs"), std::string::npos) << one.err;
  auto cpu = run_cli_args({"info", kDemoDir, "--plan", "--gpu-memory", "8,8", "--tensor-parallel", "--cpu-layers", "2"});
  EXPECT_EQ(cpu.code, 2);
  auto gen = run_cli_args({"generate", kDemoDir, "--prompt", "x", "--tensor-parallel", "cuda:0"});
  EXPECT_EQ(gen.code, 2);
  EXPECT_NE(gen.err.find("two or more GPUs"), std::string::npos) << gen.err;
}

}  // namespace
}  // namespace nibble::cli::test
