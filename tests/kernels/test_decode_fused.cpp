// The fused one-row decode kernel (nibble_kernels/decode_fused.h) end to end: small synthetic GPTQ
// and uniform EXL2 models with grouped-query attention, decoded one token at a time on the fused
// path, against the CPU backend (an independent implementation) and against the per-kernel CUDA
// path, over enough positions to cross many 32-key stages and key ranges; and the typed error a
// model that cannot take the path gives when the path is required.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "../engine/model/ref_util.h"
#include "gpu_test_util.h"
#include "nibble/bench.h"
#include "nibble/runtime.h"
#include "nibble_kernels/decode_fused.h"

namespace nibble {
namespace {

std::string model_dir(const char* tag) {
  const std::filesystem::path base =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  return (base / ("nibble-fused-" + std::string(tag) + "-" + std::to_string(getpid()))).string();
}

SyntheticShape small_shape() {
  SyntheticShape s;
  s.hidden = 512;
  s.intermediate = 1536;
  s.layers = 3;
  s.heads = 8;     // head_dim 64
  s.kv_heads = 2;  // four query heads per kv head
  s.vocab = 512;
  s.max_positions = 4096;
  return s;
}

LoadOptions gpu_options() {
  LoadOptions o;
  o.device = "cuda:0";
  o.context = 2048;
  o.max_batch_tokens = 64;
  return o;
}

// Loads with NIBBLE_FUSED_DECODE set to `mode` for the load only.
Result<std::unique_ptr<Model>> load_with(const std::string& dir, const LoadOptions& o, const char* mode) {
  setenv("NIBBLE_FUSED_DECODE", mode, 1);
  auto m = Model::load(dir, o);
  unsetenv("NIBBLE_FUSED_DECODE");
  return m;
}

void decode_matches(SyntheticFormat format, const char* tag) {
  const std::string dir = model_dir(tag);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(write_synthetic_model(dir, small_shape(), format).ok());
  auto fused = load_with(dir, gpu_options(), "1");
  ASSERT_TRUE(fused) << fused.error().to_string();
  auto plain = load_with(dir, gpu_options(), "0");  // the per-kernel path
  ASSERT_TRUE(plain) << plain.error().to_string();
  auto cpu = Model::load(dir);
  ASSERT_TRUE(cpu) << cpu.error().to_string();
  const std::vector<std::int32_t> prompt = {1, 17, 300, 42, 99, 256, 7};
  auto sf = (*fused)->new_sequence();
  auto sp = (*plain)->new_sequence();
  auto sc = (*cpu)->new_sequence();
  std::vector<float> lf, lp, lc;
  ASSERT_TRUE(sf->append(prompt, false, lf).ok());
  ASSERT_TRUE(sp->append(prompt, false, lp).ok());
  ASSERT_TRUE(sc->append(prompt, false, lc).ok());
  const int vocab = (*fused)->vocab_size();
  double worst_cpu = 0, worst_plain = 0;
  int agree = 0, steps = 0;
  std::uint32_t state = 12345;
  for (int i = 0; i < 330; ++i) {  // positions 7 .. 336: 11 key stages of 32
    state = state * 1664525u + 1013904223u;
    const std::int32_t tok = static_cast<std::int32_t>((state >> 8) % static_cast<std::uint32_t>(vocab));
    const std::span<const std::int32_t> one(&tok, 1);
    ASSERT_TRUE(sf->append(one, false, lf).ok()) << "step " << i;
    ASSERT_TRUE(sp->append(one, false, lp).ok()) << "step " << i;
    ASSERT_TRUE(sc->append(one, false, lc).ok()) << "step " << i;
    worst_cpu = std::max(worst_cpu, rel_l2(lf.data(), lc.data(), vocab));
    worst_plain = std::max(worst_plain, rel_l2(lf.data(), lp.data(), vocab));
    agree += argmax_of(lf.data(), vocab) == argmax_of(lc.data(), vocab);
    ++steps;
  }
  std::printf("%s fused decode: worst rel L2 vs CPU %.2e, vs per-kernel CUDA %.2e, argmax agreement %d/%d\n", tag,
              worst_cpu, worst_plain, agree, steps);
  EXPECT_LT(worst_cpu, 1e-2);
  EXPECT_LT(worst_plain, 5e-3);
  EXPECT_GE(agree, steps - 6);
  std::filesystem::remove_all(dir);
}

TEST(FusedDecode, GptqMatchesCpuAndPerKernelPath) {
  NIBBLE_REQUIRE_GPU();
  if (!kernels::fused_decode_device_ok(0)) GTEST_SKIP() << "the fused decode kernel needs compute capability 9.x";
  decode_matches(SyntheticFormat::gptq, "gptq");
}

TEST(FusedDecode, Exl2MatchesCpuAndPerKernelPath) {
  NIBBLE_REQUIRE_GPU();
  if (!kernels::fused_decode_device_ok(0)) GTEST_SKIP() << "the fused decode kernel needs compute capability 9.x";
  decode_matches(SyntheticFormat::exl2, "exl2");
}

// fp16 weights cannot take the fused path: required, the load fails with a typed error naming why.
TEST(FusedDecode, RequiredOnAnIneligibleModelIsATypedError) {
  NIBBLE_REQUIRE_GPU();
  const std::string dir = model_dir("fp16");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(write_synthetic_model(dir, small_shape(), SyntheticFormat::fp16).ok());
  auto m = load_with(dir, gpu_options(), "1");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::unsupported) << m.error().to_string();
  EXPECT_NE(m.error().message.find("NIBBLE_FUSED_DECODE"), std::string::npos) << m.error().message;
  auto ok = load_with(dir, gpu_options(), "0");  // not asked for: the per-kernel path
  EXPECT_TRUE(ok) << ok.error().to_string();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nibble
