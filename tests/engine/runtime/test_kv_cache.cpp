// Quantized KV cache on the CPU backend: q8/q4 row round trips stay within half a quantization
// step, and ppl_raw of the demo model with a q8/q4 cache stays within 1%/3% of the fp16 cache
// (here on 3 windows of 512 tokens; the full 64-window protocol is test_engine_runtime_kv_ppl).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/cpu_ops.h"
#include "kv_ppl.h"
#include "nibble/model.h"
#include "nibble/runtime.h"

namespace nibble {
namespace {

TEST(KvQuant, RowRoundTripWithinHalfAStep) {
  std::mt19937 g(3);
  std::normal_distribution<float> n(0.0f, 2.0f);
  constexpr int hd = 64, rows = 5;
  for (int bits : {8, 4}) {
    std::vector<std::uint8_t> q(static_cast<std::size_t>(rows * hd));
    std::vector<float> scales(static_cast<std::size_t>(rows * hd / kKvGroup * 2));
    for (int r = 0; r < rows; ++r) {
      std::vector<float> x(hd), y(hd);
      for (auto& v : x) v = n(g);
      kv_store_row(q.data(), scales.data(), bits, kKvGroup, static_cast<std::size_t>(r), x.data(), hd);
      kv_load_row(q.data(), scales.data(), bits, kKvGroup, static_cast<std::size_t>(r), y.data(), hd);
      for (int grp = 0; grp < hd / kKvGroup; ++grp) {
        float lo = INFINITY, hi = -INFINITY, amax = 0;
        for (int i = grp * kKvGroup; i < (grp + 1) * kKvGroup; ++i) {
          lo = std::min(lo, x[static_cast<std::size_t>(i)]);
          hi = std::max(hi, x[static_cast<std::size_t>(i)]);
          amax = std::max(amax, std::abs(x[static_cast<std::size_t>(i)]));
        }
        const float step = bits == 8 ? amax / 127 : (hi - lo) / 15;
        for (int i = grp * kKvGroup; i < (grp + 1) * kKvGroup; ++i)
          EXPECT_LE(std::abs(x[static_cast<std::size_t>(i)] - y[static_cast<std::size_t>(i)]), step * 0.5f + 1e-5f)
              << "bits " << bits << " row " << r << " i " << i;
      }
    }
  }
}

TEST(KvQuant, PerplexityWithinBoundsOnThreeWindows) { check_kv_ppl(3); }

TEST(KvQuant, GeneratorRunsOnAQuantizedCache) {
  LoadOptions o;
  o.kv_cache = KvCacheMode::q8;
  auto m = Model::load(std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m", o);
  ASSERT_TRUE(m);
  JobSettings j;
  j.prompt = {648, 579, 275, 276, 521};
  j.max_new_tokens = 8;
  j.sampler.temperature = 0;
  j.stop_at_model_eos = false;
  auto r = generate_all(**m, {j});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].ids.size(), 8u);
}

}  // namespace
}  // namespace nibble
