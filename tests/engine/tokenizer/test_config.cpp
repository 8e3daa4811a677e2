// Special tokens, BOS/EOS rules and chat templates from tokenizer_config.json,
// generation_config.json and chat_template.jinja. Expected ids for the real tokenizers come from
// transformers (special_tokens.json) and from HF tokenizers' encode(add_special_tokens=True).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tiny_tokenizer.h"
#include "tokenizer_test_data.h"

namespace nibble {
namespace {

using nlohmann::json;

class RealSpecialTokens : public ::testing::TestWithParam<std::string> {};

TEST_P(RealSpecialTokens, MatchTransformers) {
  const std::string name = GetParam();
  if (!test::tokenizer_available(name)) GTEST_SKIP() << test::kMissingCache;
  auto t = Tokenizer::load(test::tokenizer_dir(name));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  const json expected = test::read_json(test::test_data("tokenizers/special_tokens.json"))["tokenizers"][name];
  const SpecialTokens& sp = (*t)->special();
  auto check = [&](const char* key, const std::optional<std::int32_t>& id, const std::string& text) {
    const json& want_id = expected[std::string(key) + "_token_id"];
    const json& want_text = expected[std::string(key) + "_token"];
    if (want_id.is_null()) {
      EXPECT_FALSE(id.has_value()) << key;
    } else {
      EXPECT_EQ(id, want_id.get<std::int32_t>()) << key;
    }
    EXPECT_EQ(text, want_text.is_null() ? "" : want_text.get<std::string>()) << key;
  };
  check("bos", sp.bos_id, sp.bos_token);
  check("eos", sp.eos_id, sp.eos_token);
  check("pad", sp.pad_id, sp.pad_token);
  ASSERT_FALSE(sp.stop_ids.empty());
  EXPECT_EQ(sp.stop_ids.front(), expected["eos_token_id"].get<std::int32_t>());

  // add_bos follows what HF's encode(add_special_tokens=True) does on the golden strings.
  auto goldens = test::read_goldens(name);
  EXPECT_EQ(sp.add_bos, goldens[1].ids_special.size() > goldens[1].ids.size());
  if (sp.add_bos) EXPECT_EQ(goldens[1].ids_special.front(), sp.bos_id);
}

INSTANTIATE_TEST_SUITE_P(Real, RealSpecialTokens, ::testing::Values("dictlm", "qwen3", "llama3", "gemma3"),
                         [](const auto& info) { return info.param; });

TEST(ChatTemplates, FromTheRealTokenizerConfigs) {
  for (std::string name : {"qwen3", "llama3", "gemma3"}) {
    if (!test::tokenizer_available(name)) GTEST_SKIP() << test::kMissingCache;
    auto t = Tokenizer::load(test::tokenizer_dir(name));
    ASSERT_TRUE(t.ok()) << t.error().to_string();
    json config = test::read_json(test::tokenizer_dir(name) + "/tokenizer_config.json");
    ASSERT_EQ((*t)->chat_templates().count("default"), 1u) << name;
    EXPECT_EQ((*t)->chat_templates().at("default"), config["chat_template"].get<std::string>()) << name;
  }
}

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name) : path(std::filesystem::temp_directory_path() / name) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  void write(const std::string& file, const std::string& text) const {
    std::ofstream(path / file, std::ios::binary) << text;
  }
};

std::string tiny_json() {
  test::TinySpec spec;
  spec.words = {"hi"};
  spec.extra = {"<s>", "</s>", "<pad>", "<eot>"};
  spec.added_tokens = json::array({{{"content", "<s>"}, {"special", true}, {"normalized", false}},
                                   {{"content", "</s>"}, {"special", true}, {"normalized", false}},
                                   {{"content", "<eot>"}, {"special", true}, {"normalized", false}}});
  return test::tiny_tokenizer_json(spec).dump();
}

TEST(TokenizerConfig, AddedTokenFormsTemplateListsAndStopIds) {
  TempDir dir("nibble_tokenizer_config_test");
  dir.write("tokenizer.json", tiny_json());
  dir.write("tokenizer_config.json", json{{"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}}},
                                          {"eos_token", "</s>"},
                                          {"pad_token", nullptr},
                                          {"add_bos_token", true},
                                          {"chat_template", json::array({{{"name", "default"}, {"template", "A"}},
                                                                         {{"name", "tool_use"}, {"template", "B"}}})}}
                                         .dump());
  dir.write("generation_config.json", R"({"eos_token_id": [4, 3, 6]})");
  auto t = Tokenizer::load(dir.path.string());
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  const SpecialTokens& sp = (*t)->special();
  EXPECT_EQ(sp.bos_token, "<s>");
  EXPECT_EQ(sp.bos_id, (*t)->token_id("<s>"));
  EXPECT_EQ(sp.eos_id, (*t)->token_id("</s>"));
  EXPECT_FALSE(sp.pad_id.has_value());
  EXPECT_EQ(sp.stop_ids, (std::vector<std::int32_t>{*sp.eos_id, 4, 6}));
  EXPECT_TRUE(sp.add_bos);
  auto ids = (*t)->encode("hi", true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), *sp.bos_id);
  EXPECT_EQ((*t)->chat_templates().at("default"), "A");
  EXPECT_EQ((*t)->chat_templates().at("tool_use"), "B");

  dir.write("chat_template.jinja", "{{ messages }}");
  t = Tokenizer::load((dir.path / "tokenizer.json").string());
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ((*t)->chat_templates().at("default"), "{{ messages }}");
  EXPECT_EQ((*t)->chat_templates().at("tool_use"), "B");
}

TEST(TokenizerConfig, NoConfigMeansNoSpecials) {
  auto t = Tokenizer::load_from_memory(tiny_json());
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->special().bos_id.has_value());
  EXPECT_FALSE((*t)->special().add_bos);
  EXPECT_TRUE((*t)->chat_templates().empty());
  EXPECT_EQ(*(*t)->encode("hi", true), *(*t)->encode("hi", false));
}

TEST(TokenizerConfig, Gpt2FilesUseEndOfText) {
  if (!test::tokenizer_available("gpt2")) GTEST_SKIP() << test::kMissingCache;
  auto t = Tokenizer::load(test::tokenizer_dir("gpt2"));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ((*t)->special().eos_id, 50256);
  EXPECT_EQ((*t)->special().bos_id, 50256);
  EXPECT_TRUE((*t)->is_special(50256));
  EXPECT_EQ((*t)->vocab_size(), 50257);
}

}  // namespace
}  // namespace nibble
