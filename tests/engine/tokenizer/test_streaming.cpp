// The streaming detokenizer: deltas are whole UTF-8 (never a split sequence), byte-fallback runs
// come out in one piece, and the deltas add up to HF's decode of the golden ids.
#include <gtest/gtest.h>

#include "nibble/tokenizer.h"
#include "tiny_tokenizer.h"
#include "tokenizer_test_data.h"

namespace nibble {
namespace {

bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

class Streaming : public ::testing::TestWithParam<std::string> {};

TEST_P(Streaming, DeltasAreWholeUtf8AndAddUpToHfDecode) {
  if (!test::tokenizer_available(GetParam())) GTEST_SKIP() << test::kMissingCache;
  auto t = Tokenizer::load(test::tokenizer_dir(GetParam()));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  int split = 0, wrong = 0;
  for (const auto& c : test::read_goldens(GetParam())) {
    auto stream = (*t)->make_stream(false);
    std::string text;
    for (std::int32_t id : c.ids) {
      std::string delta = stream->push(id);
      if (!valid_utf8(delta)) ++split;
      text += delta;
    }
    std::string rest = stream->flush();
    if (!valid_utf8(rest)) ++split;
    text += rest;
    if (text != c.decoded) ++wrong;
  }
  EXPECT_EQ(split, 0);
  EXPECT_EQ(wrong, 0);
}

INSTANTIATE_TEST_SUITE_P(Real, Streaming, ::testing::Values("dictlm", "qwen3", "llama3", "gemma3", "gpt2"),
                         [](const auto& info) { return info.param; });

TEST(StreamingByteFallback, RunComesOutWhole) {
  if (!test::tokenizer_available("gemma3")) GTEST_SKIP() << test::kMissingCache;
  auto t = Tokenizer::load(test::tokenizer_dir("gemma3"));
  ASSERT_TRUE(t.ok());
  const std::string text = "x\xF0\xA0\x80\x80y";  // U+20000 is not in Gemma-3's vocabulary
  auto ids = (*t)->encode(text, false);
  ASSERT_TRUE(ids.ok());
  int byte_tokens = 0;
  for (auto id : *ids) byte_tokens += (*t)->token_text(id).rfind("<0x", 0) == 0;
  ASSERT_EQ(byte_tokens, 4);
  auto stream = (*t)->make_stream(false);
  std::vector<std::string> deltas;
  for (auto id : *ids) deltas.push_back(stream->push(id));
  deltas.push_back(stream->flush());
  std::string joined;
  for (const auto& d : deltas) {
    EXPECT_TRUE(d.empty() || d.find("\xF0\xA0\x80\x80") != std::string::npos || d.find('\xF0') == std::string::npos);
    EXPECT_EQ(d.find("\xEF\xBF\xBD"), std::string::npos) << "a replacement character was emitted";
    joined += d;
  }
  EXPECT_EQ(joined, *(*t)->decode(*ids, false));
  EXPECT_EQ(joined, text);
}

// Decoders whose output near the end depends on what follows (Strip of trailing characters, a
// multi-character Replace after Fuse): the deltas still add up to decode() of all ids.
TEST(StreamingNonLocalDecoders, DeltasAddUpToDecode) {
  test::TinySpec spec;
  spec.extra = {"a", " ", "b", "  ", "xy", "y"};
  nlohmann::json strip_end = {{"type", "Sequence"},
                              {"decoders", nlohmann::json::array({{{"type", "Fuse"}},
                                                                  {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 2}}})}};
  nlohmann::json replace_after_fuse = {
      {"type", "Sequence"},
      {"decoders", nlohmann::json::array({{{"type", "Fuse"}},
                                          {{"type", "Replace"}, {"pattern", {{"String", "xyy"}}}, {"content", "Z"}}})}};
  for (const auto& decoder : {strip_end, replace_after_fuse}) {
    spec.decoder = decoder;
    auto t = test::tiny_tokenizer(spec);
    ASSERT_TRUE(t);
    std::vector<std::string> seq = {" ", "a", " ", "  ", "b", " ", "xy", "y", "a", "xy", "  ", " ", "y", " "};
    std::vector<std::int32_t> ids;
    for (const auto& s : seq) ids.push_back(*t->token_id(s));
    for (std::size_t n = 1; n <= ids.size(); ++n) {
      std::vector<std::int32_t> prefix(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
      auto stream = t->make_stream(false);
      std::string text;
      for (auto id : prefix) text += stream->push(id);
      text += stream->flush();
      EXPECT_EQ(text, *t->decode(prefix, false)) << decoder.dump() << " first " << n << " ids";
    }
  }
}

}  // namespace
}  // namespace nibble
