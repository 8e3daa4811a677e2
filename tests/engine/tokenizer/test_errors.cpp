// Malformed or unsupported tokenizer files, bad input text and bad ids: clear errors of the right
// kind naming the file and field, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tiny_tokenizer.h"
#include "tokenizer_test_data.h"

namespace nibble {
namespace {

using nlohmann::json;

json base_spec() {
  test::TinySpec spec;
  spec.words = {"ab", "c"};
  return test::tiny_tokenizer_json(spec);
}

Error load_error(const std::string& text) {
  auto t = Tokenizer::load_from_memory(text);
  EXPECT_FALSE(t.ok()) << "loaded: " << text.substr(0, 200);
  return t.ok() ? Error{} : t.error();
}

TEST(TokenizerErrors, BaseSpecLoads) { ASSERT_TRUE(Tokenizer::load_from_memory(base_spec().dump()).ok()); }

TEST(TokenizerErrors, MalformedJson) {
  std::string text = base_spec().dump();
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, text.size() / 2, text.size() - 1}) {
    Error e = load_error(text.substr(0, cut));
    EXPECT_EQ(e.kind, ErrorKind::format) << e.to_string();
    EXPECT_NE(e.message.find("tokenizer.json"), std::string::npos) << e.message;
  }
  EXPECT_EQ(load_error(text + " x").kind, ErrorKind::format);
  EXPECT_EQ(load_error("[1, 2]").kind, ErrorKind::format);
  EXPECT_EQ(load_error("{\"version\": \"1.0\"}").kind, ErrorKind::format);  // no model
}

TEST(TokenizerErrors, UnknownTypesAreUnsupported) {
  struct Case {
    const char* section;
    json value;
  };
  for (const Case& c : {Case{"normalizer", {{"type", "Frobnicate"}}}, Case{"pre_tokenizer", {{"type", "Frobnicate"}}},
                        Case{"decoder", {{"type", "Frobnicate"}}}, Case{"post_processor", {{"type", "Frobnicate"}}}}) {
    json spec = base_spec();
    spec[c.section] = c.value;
    Error e = load_error(spec.dump());
    EXPECT_EQ(e.kind, ErrorKind::unsupported) << e.to_string();
    EXPECT_NE(e.message.find(c.section), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("Frobnicate"), std::string::npos) << e.message;
  }
  json spec = base_spec();
  spec["model"]["type"] = "WordPiece";
  Error e = load_error(spec.dump());
  EXPECT_EQ(e.kind, ErrorKind::unsupported);
  EXPECT_NE(e.message.find("WordPiece"), std::string::npos) << e.message;
}

TEST(TokenizerErrors, BadFieldsNameTheField) {
  json spec = base_spec();
  spec["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  Error e = load_error(spec.dump());
  EXPECT_EQ(e.kind, ErrorKind::format);
  EXPECT_NE(e.message.find("pre_tokenizer.pattern"), std::string::npos) << e.message;

  spec = base_spec();
  spec["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", "x"}}}, {"behavior", "Sideways"}};
  EXPECT_NE(load_error(spec.dump()).message.find("Sideways"), std::string::npos);

  spec = base_spec();
  spec["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", "x"}}}};
  EXPECT_NE(load_error(spec.dump()).message.find("normalizer.content"), std::string::npos);

  spec = base_spec();
  spec["model"]["merges"] = json::array({json::array({"a", "zz"})});
  e = load_error(spec.dump());
  EXPECT_EQ(e.kind, ErrorKind::format);
  EXPECT_NE(e.message.find("zz"), std::string::npos) << e.message;

  spec = base_spec();
  spec["model"]["merges"] = json::array({"a b c"});
  EXPECT_EQ(load_error(spec.dump()).kind, ErrorKind::format);

  spec = base_spec();
  spec["model"]["vocab"]["x"] = 1 << 30;
  EXPECT_EQ(load_error(spec.dump()).kind, ErrorKind::format);

  spec = base_spec();
  spec["model"]["vocab"]["x"] = -1;
  EXPECT_EQ(load_error(spec.dump()).kind, ErrorKind::format);

  spec = base_spec();
  spec["model"]["unk_token"] = "<nope>";
  EXPECT_NE(load_error(spec.dump()).message.find("<nope>"), std::string::npos);

  spec = base_spec();
  spec["added_tokens"] = json::array({{{"content", 3}}});
  EXPECT_NE(load_error(spec.dump()).message.find("added_tokens[0].content"), std::string::npos);
}

TEST(TokenizerErrors, InvalidUtf8AndEscapesInTheFile) {
  std::string text = base_spec().dump();
  std::string bad = text;
  bad.insert(bad.find("\"ab\""), "\"\xC3\x28\": 9, ");
  EXPECT_EQ(load_error(bad).kind, ErrorKind::format);
  std::string surrogate = text;
  surrogate.insert(surrogate.find("\"ab\""), "\"\\ud800\": 9, ");
  EXPECT_EQ(load_error(surrogate).kind, ErrorKind::format);
}

TEST(TokenizerErrors, ConfigFiles) {
  std::string text = base_spec().dump();
  auto t = Tokenizer::load_from_memory(text, "{\"bos_token\": 5}");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::format);
  EXPECT_NE(t.error().message.find("bos_token"), std::string::npos) << t.error().message;
  EXPECT_FALSE(Tokenizer::load_from_memory(text, "{not json").ok());
  EXPECT_FALSE(Tokenizer::load_from_memory(text, "{}", "{\"eos_token_id\": \"x\"}").ok());
}

TEST(TokenizerErrors, BadTextAndIds) {
  auto t = Tokenizer::load_from_memory(base_spec().dump());
  ASSERT_TRUE(t.ok());
  for (std::string bad : {std::string("ab\xC3"), std::string("\xC3\x28"), std::string("\xED\xA0\x80"),
                          std::string("\xF4\x90\x80\x80"), std::string("\xC0\xAF"), std::string("a\xFF" "b")}) {
    auto r = (*t)->encode(bad, true);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
    EXPECT_NE(r.error().message.find("UTF-8"), std::string::npos);
  }
  std::vector<std::int32_t> ids = {0, (*t)->vocab_size()};
  auto d = (*t)->decode(ids, false);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().kind, ErrorKind::invalid_argument);
  EXPECT_FALSE((*t)->decode(std::vector<std::int32_t>{-1}, false).ok());
  EXPECT_EQ((*t)->token_text(-5), "");
  EXPECT_FALSE((*t)->is_special(1 << 20));
  auto stream = (*t)->make_stream(false);
  EXPECT_EQ(stream->push(1 << 20), "");  // ignored
}

TEST(TokenizerErrors, MissingFiles) {
  auto missing = Tokenizer::load("/nonexistent/model/dir");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
  auto dir = std::filesystem::temp_directory_path() / "nibble_tokenizer_empty_dir";
  std::filesystem::create_directories(dir);
  auto empty = Tokenizer::load(dir.string());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().kind, ErrorKind::not_found);
  EXPECT_NE(empty.error().message.find("tokenizer.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nibble
