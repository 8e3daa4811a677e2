// Normalizers, pre-tokenizers, added tokens, post-processors and decoders on small tokenizers,
// against the behaviour HF tokenizers documents in its own docs and unit tests (the expected
// values below are HF's, not ours).
#include <gtest/gtest.h>

#include "tiny_tokenizer.h"

namespace nibble {
namespace {

using test::pieces;
using test::TinySpec;
using Pieces = std::vector<std::string>;
using nlohmann::json;

// HF's NormalizedString::split documentation: "the-final--countdown" split on '-'.
std::unique_ptr<Tokenizer> split_on_dash(const std::string& behavior) {
  TinySpec spec;
  spec.words = {"the", "final", "countdown", "-", "the-", "final-", "-final", "-countdown", "--"};
  spec.pre_tokenizer = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}};
  return test::tiny_tokenizer(spec);
}

TEST(SplitBehavior, AsHfDocuments) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(pieces(*split_on_dash("Removed"), text), (Pieces{"the", "final", "countdown"}));
  EXPECT_EQ(pieces(*split_on_dash("Isolated"), text), (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pieces(*split_on_dash("MergedWithPrevious"), text), (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pieces(*split_on_dash("MergedWithNext"), text), (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pieces(*split_on_dash("Contiguous"), text), (Pieces{"the", "-", "final", "--", "countdown"}));
}

TEST(SplitBehavior, InvertKeepsTheMatches) {
  // HF's Split docs: with invert the regex matches become the kept pieces and the text between
  // them the delimiters, here removed.
  TinySpec spec;
  spec.words = {"ab", "cd", " ", "  "};
  spec.pre_tokenizer = {{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Removed"}, {"invert", true}};
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "ab  cd"), (Pieces{"ab", "cd"}));
}

TEST(Metaspace, PreTokenizerAsHfTests) {
  TinySpec spec;
  spec.words = {"\xE2\x96\x81Hey", "\xE2\x96\x81" "friend!", "\xE2\x96\x81"};
  spec.pre_tokenizer = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}, {"split", true}};
  spec.decoder = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}, {"split", true}};
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "Hey friend!"), (Pieces{"\xE2\x96\x81Hey", "\xE2\x96\x81" "friend!"}));
  EXPECT_EQ(pieces(*t, "Hey   friend!"),
            (Pieces{"\xE2\x96\x81Hey", "\xE2\x96\x81", "\xE2\x96\x81", "\xE2\x96\x81" "friend!"}));
  // Decoder: the first token's replacement characters are dropped, the others become spaces.
  auto ids = t->encode("Hey friend!", false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*t->decode(*ids, false), "Hey friend!");
}

TEST(Metaspace, PrependFirstOnlyAtTheStartOfTheInput) {
  TinySpec spec;
  spec.words = {"\xE2\x96\x81" "a", "a", "<s>"};
  spec.pre_tokenizer = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", true}};
  spec.added_tokens = json::array({{{"content", "<s>"}, {"special", true}, {"normalized", false}}});
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "a"), (Pieces{"\xE2\x96\x81" "a"}));
  EXPECT_EQ(pieces(*t, "<s>a"), (Pieces{"<s>", "a"}));
}

TEST(Normalizers, LlamaTwoStyle) {
  // Prepend("▁") then Replace(" ", "▁"), as Llama-2 / Mistral tokenizer.json files have them.
  TinySpec spec;
  spec.words = {"\xE2\x96\x81Hey\xE2\x96\x81" "friend!"};
  spec.normalizer = {{"type", "Sequence"},
                     {"normalizers",
                      json::array({{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                                   {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}})}};
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "Hey friend!"), (Pieces{"\xE2\x96\x81Hey\xE2\x96\x81" "friend!"}));
}

TEST(Normalizers, LowercaseNfkcStrip) {
  TinySpec spec;
  spec.words = {"fia", "i\xCC\x87"};
  spec.normalizer = {{"type", "Sequence"},
                     {"normalizers", json::array({{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
                                                  {{"type", "NFKC"}},
                                                  {{"type", "Lowercase"}}})}};
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  // U+FB01 (fi ligature) is "fi" under NFKC; Rust's char::to_lowercase('İ') is "i\u{307}".
  EXPECT_EQ(pieces(*t, "  \xEF\xAC\x81" "A \t"), (Pieces{"fia"}));
  EXPECT_EQ(pieces(*t, "\xC4\xB0"), (Pieces{"i\xCC\x87"}));
}

// HF's added_vocabulary.rs tests, `options_use_cases`: Lowercase normalizer, "my" (lstrip, rstrip,
// normalized), "name", "ony" (single_word), special [CLS] and [SEP].
TEST(AddedTokens, OptionsAsHfTests) {
  TinySpec spec;
  spec.words = {" is anthony "};
  spec.normalizer = {{"type", "Lowercase"}};
  spec.added_tokens = json::array({
      {{"content", "my"}, {"lstrip", true}, {"rstrip", true}, {"normalized", true}},
      {{"content", "name"}, {"normalized", true}},
      {{"content", "ony"}, {"single_word", true}, {"normalized", true}},
      {{"content", "[CLS]"}, {"special", true}, {"normalized", false}},
      {{"content", "[SEP]"}, {"special", true}, {"normalized", false}},
  });
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  auto ids = t->encode("[CLS] My name is Anthony [SEP]", false);
  ASSERT_TRUE(ids.ok());
  // HF splits: [CLS] | " my " (the token "my" with both spaces) | name | " is anthony " | [SEP].
  ASSERT_EQ(ids->size(), 5u);
  EXPECT_EQ((*ids)[0], *t->token_id("[CLS]"));
  EXPECT_EQ((*ids)[1], *t->token_id("my"));
  EXPECT_EQ((*ids)[2], *t->token_id("name"));
  EXPECT_EQ(t->token_text((*ids)[3]), " is anthony ");
  EXPECT_EQ((*ids)[4], *t->token_id("[SEP]"));
  EXPECT_TRUE(t->is_special((*ids)[0]));
  EXPECT_FALSE(t->is_special((*ids)[1]));
}

TEST(AddedTokens, SingleWordAsHfTests) {
  TinySpec spec;
  spec.words = {" my name ", " a<mask> <mask>ony "};
  spec.normalizer = {{"type", "Lowercase"}};
  spec.added_tokens = json::array({{{"content", "<mask>"}, {"single_word", true}, {"normalized", true}}});
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "<mask> My name <mask> A<mask> <mask>ony <mask>"),
            (Pieces{"<mask>", " my name ", "<mask>", " a<mask> <mask>ony ", "<mask>"}));
}

TEST(AddedTokens, StripUnicodeSpacesAsHfTests) {
  TinySpec spec;
  spec.words = {"hi", "there"};
  spec.extra = {" ", "\t", "\xE2\x80\x80"};  // so that unabsorbed spaces would show as pieces
  spec.normalizer = {{"type", "Lowercase"}};
  spec.added_tokens = json::array(
      {{{"content", "<mask>"}, {"lstrip", true}, {"rstrip", true}, {"single_word", true}, {"normalized", true}}});
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "Hi <mask> there\t<mask>\t<mask>\xE2\x80\x80"),
            (Pieces{"hi", "<mask>", "there", "<mask>", "<mask>"}));
}

TEST(PostProcessor, TemplateAddsSpecialTokensOnlyWhenAsked) {
  TinySpec spec;
  spec.words = {"hi"};
  spec.extra = {"<bos>", "<eos>"};  // ids 2 and 3, after "h" and "i"
  spec.added_tokens = json::array({{{"content", "<bos>"}, {"special", true}, {"normalized", false}},
                                   {{"content", "<eos>"}, {"special", true}, {"normalized", false}}});
  spec.post_processor = {
      {"type", "TemplateProcessing"},
      {"single", json::array({{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                              {{"SpecialToken", {{"id", "<eos>"}, {"type_id", 0}}}}})},
      {"pair", json::array()},
      {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {2}}, {"tokens", {"<bos>"}}}},
                          {"<eos>", {{"id", "<eos>"}, {"ids", {3}}, {"tokens", {"<eos>"}}}}}}};
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->token_id("<bos>"), 2);
  EXPECT_EQ(*t->encode("hi", true), (std::vector<std::int32_t>{2, *t->token_id("hi"), 3}));
  EXPECT_EQ(*t->encode("hi", false), (std::vector<std::int32_t>{*t->token_id("hi")}));
  EXPECT_TRUE(t->special().add_bos);
  EXPECT_TRUE(t->special().add_eos);
}

std::string decode_tokens(const json& decoder, const std::vector<std::string>& tokens) {
  TinySpec spec;
  spec.extra = tokens;
  spec.decoder = decoder;
  auto t = test::tiny_tokenizer(spec);
  if (!t) return "<load failed>";
  std::vector<std::int32_t> ids;
  for (const auto& s : tokens) ids.push_back(*t->token_id(s));
  auto text = t->decode(ids, false);
  return text.ok() ? *text : "<" + text.error().message + ">";
}

TEST(Decoders, ByteFallbackAsHfTests) {
  json fallback = {{"type", "ByteFallback"}};
  EXPECT_EQ(decode_tokens(fallback, {"<0x61>"}), "a");
  EXPECT_EQ(decode_tokens(fallback, {"<0xE5>"}), "\xEF\xBF\xBD");
  EXPECT_EQ(decode_tokens(fallback, {"<0xE5>", "<0x8f>"}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(decode_tokens(fallback, {"<0xE5>", "<0x8f>", "<0xab>"}), "\xE5\x8F\xAB");
  EXPECT_EQ(decode_tokens(fallback, {"<0xE5>", "<0x8f>", "<0xab>", "a"}), "\xE5\x8F\xAB" "a");
  EXPECT_EQ(decode_tokens(fallback, {"<0xE5>", "<0x8f>", "a"}), "\xEF\xBF\xBD\xEF\xBF\xBD" "a");
}

TEST(Decoders, StripAsHfTests) {
  EXPECT_EQ(decode_tokens({{"type", "Strip"}, {"content", "H"}, {"start", 1}, {"stop", 0}}, {"Hey", " friend!", "HHH"}),
            "ey friend!HH");
  EXPECT_EQ(decode_tokens({{"type", "Strip"}, {"content", "y"}, {"start", 0}, {"stop", 1}}, {"Hey", " friend!"}),
            "He friend!");
}

TEST(Decoders, ByteLevelAsHfTests) {
  // HF's byte_level.rs `decoding` test.
  EXPECT_EQ(decode_tokens({{"type", "ByteLevel"}},
                          {"Hello", "\xC4\xA0my", "\xC4\xA0" "friend", ",", "\xC4\xA0how", "\xC4\xA0is", "\xC4\xA0your",
                           "\xC4\xA0" "day", "\xC4\xA0going", "?"}),
            "Hello my friend, how is your day going?");
}

TEST(Decoders, LlamaTwoSequence) {
  // Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0): Llama-2's decoder.
  json decoder = {{"type", "Sequence"},
                  {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                            {{"type", "ByteFallback"}},
                                            {{"type", "Fuse"}},
                                            {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  EXPECT_EQ(decode_tokens(decoder, {"\xE2\x96\x81Hey", "\xE2\x96\x81" "friend", "<0x21>"}), "Hey friend!");
}

TEST(PreTokenizers, ByteLevelSplitsAsHfTests) {
  // HF's byte_level.rs `pre_tokenization` test (add_prefix_space false, GPT-2 regex).
  TinySpec spec;
  spec.words = {"Hello", "\xC4\xA0my", "\xC4\xA0" "friend", ",", "\xC4\xA0how", "\xC4\xA0is", "\xC4\xA0your",
                "\xC4\xA0" "day", "\xC4\xA0going", "?"};
  spec.pre_tokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "Hello my friend, how is your day going?"),
            (Pieces{"Hello", "\xC4\xA0my", "\xC4\xA0" "friend", ",", "\xC4\xA0how", "\xC4\xA0is", "\xC4\xA0your",
                    "\xC4\xA0" "day", "\xC4\xA0going", "?"}));
}

TEST(PreTokenizers, WhitespaceAndDigitsAsHfDocs) {
  TinySpec spec;
  spec.words = {"Hey", "friend", "!", "123", "4", "5"};
  spec.pre_tokenizer = {{"type", "Whitespace"}};
  auto t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "Hey friend!"), (Pieces{"Hey", "friend", "!"}));
  spec.pre_tokenizer = {{"type", "Digits"}, {"individual_digits", true}};
  t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "45"), (Pieces{"4", "5"}));
  spec.pre_tokenizer = {{"type", "Digits"}, {"individual_digits", false}};
  t = test::tiny_tokenizer(spec);
  ASSERT_TRUE(t);
  EXPECT_EQ(pieces(*t, "123"), (Pieces{"123"}));
}

}  // namespace
}  // namespace nibble
