// Encode/decode/stream against Hugging Face tokenizers' outputs (goldens made by
// tests/data/tokenizers/make_goldens.py) for dictlm-16m, Qwen3, Llama-3, Gemma-3 and GPT-2.
#include <gtest/gtest.h>

#include "nibble/tokenizer.h"
#include "tokenizer_test_data.h"

namespace nibble {
namespace {

using test::GoldenCase;

class Golden : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!test::tokenizer_available(GetParam())) GTEST_SKIP() << test::kMissingCache;
    auto t = Tokenizer::load(test::tokenizer_dir(GetParam()));
    ASSERT_TRUE(t.ok()) << t.error().to_string();
    tokenizer_ = std::move(t).value();
    cases_ = test::read_goldens(GetParam());
    ASSERT_GT(cases_.size(), 300u);
  }
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<GoldenCase> cases_;
};

TEST_P(Golden, EncodeEqualsHf) {
  int wrong = 0;
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const GoldenCase& c = cases_[i];
    auto plain = tokenizer_->encode(c.text, false);
    ASSERT_TRUE(plain.ok()) << plain.error().to_string();
    auto special = tokenizer_->encode(c.text, true);
    ASSERT_TRUE(special.ok()) << special.error().to_string();
    if (*plain != c.ids || *special != c.ids_special) {
      if (++wrong <= 5) {
        ADD_FAILURE() << "string " << i << " " << nlohmann::json(c.text).dump().substr(0, 200) << "\n  hf:   "
                      << test::ids_to_string(c.ids) << "\n  ours: " << test::ids_to_string(*plain)
                      << "\n  hf special: " << test::ids_to_string(c.ids_special)
                      << "\n  ours special: " << test::ids_to_string(*special);
      }
    }
  }
  EXPECT_EQ(wrong, 0) << "of " << cases_.size() << " strings";
}

TEST_P(Golden, DecodeEqualsHf) {
  int wrong = 0;
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const GoldenCase& c = cases_[i];
    auto text = tokenizer_->decode(c.ids, false);
    auto skipped = tokenizer_->decode(c.ids, true);
    ASSERT_TRUE(text.ok() && skipped.ok());
    if (*text != c.decoded || *skipped != c.decoded_skip) {
      if (++wrong <= 5) {
        ADD_FAILURE() << "string " << i << "\n  hf:   " << nlohmann::json(c.decoded).dump().substr(0, 300)
                      << "\n  ours: " << nlohmann::json(*text).dump().substr(0, 300)
                      << "\n  hf skip:   " << nlohmann::json(c.decoded_skip).dump().substr(0, 300)
                      << "\n  ours skip: " << nlohmann::json(*skipped).dump().substr(0, 300);
      }
    }
  }
  EXPECT_EQ(wrong, 0) << "of " << cases_.size() << " strings";
}

TEST_P(Golden, StreamConcatenatesToHfDecode) {
  int wrong = 0;
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const GoldenCase& c = cases_[i];
    for (bool skip : {false, true}) {
      auto stream = tokenizer_->make_stream(skip);
      std::string text;
      for (std::int32_t id : c.ids_special) text += stream->push(id);
      text += stream->flush();
      auto full = tokenizer_->decode(c.ids_special, skip);
      ASSERT_TRUE(full.ok());
      if (text != *full && ++wrong <= 5) {
        ADD_FAILURE() << "string " << i << (skip ? " (skip special)" : "")
                      << "\n  decode: " << nlohmann::json(*full).dump().substr(0, 300)
                      << "\n  stream: " << nlohmann::json(text).dump().substr(0, 300);
      }
    }
    // The plain ids decode to what HF decodes; the stream must agree with that too.
    auto stream = tokenizer_->make_stream(false);
    std::string text;
    for (std::int32_t id : c.ids) text += stream->push(id);
    text += stream->flush();
    if (text != c.decoded && ++wrong <= 5) ADD_FAILURE() << "string " << i << ": stream differs from HF decode";
  }
  EXPECT_EQ(wrong, 0);
}

INSTANTIATE_TEST_SUITE_P(Real, Golden, ::testing::Values("dictlm", "qwen3", "llama3", "gemma3", "gpt2"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace nibble
