// The EXL2 file made by ExLlamaV2's converter, run end to end: its logits on the reference
// prompts stay close to transformers' fp16 logits (quantization noise, not equal). Measured:
// mean relative L2 0.080, worst 0.120, argmax agreement 82 of 96 positions.
#include <gtest/gtest.h>

#include "nibble/model.h"
#include "ref_util.h"

namespace nibble {
namespace {

TEST(Exl2Model, LogitsCloseToTheFp16Reference) {
  auto q = Model::load(exl2_model_dir());
  ASSERT_TRUE(q) << q.error().to_string();
  const auto refs = read_json(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/logits.json");
  double worst = 0, sum = 0;
  int agree = 0, positions = 0;
  for (const auto& ref : refs) {
    const auto ids = ref["ids"].get<std::vector<std::int32_t>>();
    const auto argmax = ref["argmax"].get<std::vector<std::int32_t>>();
    const auto want = ref["last_logits"].get<std::vector<float>>();
    std::vector<float> logits;
    ASSERT_TRUE((*q)->new_sequence()->append(ids, true, logits).ok());
    const int V = (*q)->vocab_size();
    const double rel = rel_l2(logits.data() + (ids.size() - 1) * V, want.data(), want.size());
    worst = std::max(worst, rel);
    sum += rel;
    for (std::size_t i = 0; i < ids.size(); ++i, ++positions) agree += argmax_of(logits.data() + i * V, V) == argmax[i];
    std::printf("exl2 vs fp16 rel L2 %-45s %.4f\n", ref["prompt"].dump().c_str(), rel);
  }
  const double mean = sum / static_cast<double>(refs.size());
  std::printf("mean %.4f worst %.4f argmax agreement %d/%d\n", mean, worst, agree, positions);
  EXPECT_GT(mean, 1e-3);   // quantized: not the same numbers
  EXPECT_LT(mean, 0.15);   // but the same model
  EXPECT_LT(worst, 0.25);
  EXPECT_GT(agree, positions * 7 / 10);
}

}  // namespace
}  // namespace nibble
