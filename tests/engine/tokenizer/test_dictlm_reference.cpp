// The demo model's tokenizer against the project's reference goldens
// (tests/data/refs/dictlm-16m/tokenizer_golden.json, made with HF tokenizers).
#include <gtest/gtest.h>

#include "nibble/tokenizer.h"
#include "tokenizer_test_data.h"

namespace nibble {
namespace {

TEST(DictlmReference, EncodeAndDecodeEqualHf) {
  auto t = Tokenizer::load(test::tokenizer_dir("dictlm"));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  auto cases = test::read_json(test::test_data("refs/dictlm-16m/tokenizer_golden.json"));
  ASSERT_GT(cases.size(), 100u);
  int wrong = 0;
  for (const auto& c : cases) {
    std::string text = c.at("text").get<std::string>();
    auto expected = c.at("ids").get<std::vector<std::int32_t>>();
    auto ids = (*t)->encode(text, true);
    ASSERT_TRUE(ids.ok()) << ids.error().to_string();
    if (*ids != expected && ++wrong <= 5)
      ADD_FAILURE() << nlohmann::json(text).dump().substr(0, 200) << "\n  hf:   " << test::ids_to_string(expected)
                    << "\n  ours: " << test::ids_to_string(*ids);
    auto decoded = (*t)->decode(expected, false);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, c.at("decoded").get<std::string>());
  }
  EXPECT_EQ(wrong, 0) << "of " << cases.size();
}

TEST(DictlmReference, SpecialTokensFromConfig) {
  auto t = Tokenizer::load(test::tokenizer_dir("dictlm"));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  const SpecialTokens& sp = (*t)->special();
  EXPECT_EQ(sp.bos_id, 0);
  EXPECT_EQ(sp.eos_id, 2);
  EXPECT_EQ(sp.pad_id, 0);
  EXPECT_EQ(sp.eos_token, "<|im_end|>");
  EXPECT_EQ(sp.stop_ids, (std::vector<std::int32_t>{2, 0}));
  EXPECT_FALSE(sp.add_bos);
  EXPECT_EQ((*t)->vocab_size(), 4096);
  EXPECT_TRUE((*t)->is_special(1));
  EXPECT_FALSE((*t)->is_special(300));
  EXPECT_EQ((*t)->token_id("<|im_start|>"), 1);
  ASSERT_EQ((*t)->chat_templates().count("default"), 1u);
  EXPECT_NE((*t)->chat_templates().at("default").find("<|im_start|>"), std::string::npos);
}

}  // namespace
}  // namespace nibble
