// The demo model on the CPU backend against Hugging Face transformers (fp32 compute over the fp16
// weights, tests/data/refs/dictlm-16m): last-position logits of 8 prompts within 1e-3 relative L2,
// argmax at every position, and 4 greedy continuations of 48 tokens token for token.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "nibble/model.h"
#include "ref_util.h"

namespace nibble {
namespace {

TEST(ForwardRefs, LastLogitsAndArgmaxMatchTransformers) {
  auto model = load_demo_model();
  ASSERT_TRUE(model) << model.error().to_string();
  const auto refs = read_json(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/logits.json");
  ASSERT_EQ(refs.size(), 8u);
  for (const auto& ref : refs) {
    const auto ids = ref["ids"].get<std::vector<std::int32_t>>();
    const auto argmax = ref["argmax"].get<std::vector<std::int32_t>>();
    const auto want = ref["last_logits"].get<std::vector<float>>();
    auto seq = (*model)->new_sequence();
    std::vector<float> logits;
    ASSERT_TRUE(seq->append(ids, true, logits).ok());
    const int vocab = (*model)->vocab_size();
    ASSERT_EQ(logits.size(), ids.size() * static_cast<std::size_t>(vocab));
    for (std::size_t i = 0; i < ids.size(); ++i)
      EXPECT_EQ(argmax_of(logits.data() + i * vocab, vocab), argmax[i]) << ref["prompt"] << " position " << i;
    const double rel = rel_l2(logits.data() + (ids.size() - 1) * vocab, want.data(), want.size());
    EXPECT_LT(rel, 1e-3) << ref["prompt"];
    RecordProperty("rel_l2_" + std::to_string(&ref - &refs[0]), std::to_string(rel));
    std::printf("rel L2 %-45s %.3g\n", ref["prompt"].dump().c_str(), rel);
  }
}

TEST(ForwardRefs, GreedyContinuationsMatchTransformers) {
  auto model = load_demo_model();
  ASSERT_TRUE(model) << model.error().to_string();
  const auto refs = read_json(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/greedy.json");
  ASSERT_EQ(refs.size(), 4u);
  for (const auto& ref : refs) {
    const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
    const auto want = ref["greedy_ids"].get<std::vector<std::int32_t>>();
    GenerateOptions opts;
    opts.max_tokens = static_cast<int>(want.size());
    opts.stop_at_eos = false;
    auto got = generate(**model, prompt, opts);
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(*got, want) << ref["question"];
  }
}

// The checker itself: a perturbed logit vector must fail the 1e-3 bound and a shifted argmax must differ.
TEST(ForwardRefs, CheckerRejectsWrongLogits) {
  const auto refs = read_json(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/logits.json");
  auto want = refs[0]["last_logits"].get<std::vector<float>>();
  auto wrong = want;
  for (std::size_t i = 0; i < wrong.size(); i += 7) wrong[i] += 0.05f;
  EXPECT_GT(rel_l2(wrong.data(), want.data(), want.size()), 1e-3);
  EXPECT_NE(argmax_of(wrong.data(), static_cast<int>(wrong.size())), -1);
}

}  // namespace
}  // namespace nibble
