// Finding a model's chat templates on disk: tokenizer_config.json as a string or a named list,
// chat_template.json, chat_template.jinja overriding it, additional_chat_templates/, the bos/eos
// text forms, HF's choice between "default" and "tool_use", and the real models' configs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "golden_cases.h"
#include "nibble/chat_template.h"

namespace nibble {
namespace {

namespace fs = std::filesystem;

class ModelDir {
 public:
  ModelDir() {
    path_ = fs::temp_directory_path() /
            ("nibble-template-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ModelDir() { fs::remove_all(path_); }
  void write(const std::string& name, const std::string& text) const {
    fs::create_directories((path_ / name).parent_path());
    std::ofstream(path_ / name, std::ios::binary) << text;
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

TEST(TemplateFiles, StringTemplateAndTokenForms) {
  ModelDir dir;
  dir.write("tokenizer_config.json",
            R"({"chat_template": "{{ bos_token }}hi", "bos_token": {"content": "<s>", "lstrip": false},
                "eos_token": "</s>"})");
  auto m = load_chat_templates(dir.path());
  ASSERT_TRUE(m) << m.error().to_string();
  ASSERT_EQ(m->templates.size(), 1u);
  EXPECT_EQ(m->templates.at("default"), "{{ bos_token }}hi");
  EXPECT_EQ(m->bos_token, "<s>");
  EXPECT_EQ(m->eos_token, "</s>");
}

TEST(TemplateFiles, NamedTemplatesAndHfSelection) {
  ModelDir dir;
  dir.write("tokenizer_config.json",
            R"({"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"},
                                   {"name": "rag", "template": "R"}], "bos_token": null})");
  auto m = load_chat_templates(dir.path());
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->templates.size(), 3u);
  EXPECT_EQ(m->bos_token, "");
  EXPECT_EQ(*select_chat_template(m->templates, false), "D");
  EXPECT_EQ(*select_chat_template(m->templates, true), "T");
  m->templates.erase("default");
  EXPECT_EQ(select_chat_template(m->templates, false), nullptr);
  EXPECT_EQ(*select_chat_template(m->templates, true), "T");
}

TEST(TemplateFiles, JinjaFileOverridesConfigAndExtraTemplates) {
  ModelDir dir;
  dir.write("tokenizer_config.json", R"({"chat_template": "from config"})");
  dir.write("chat_template.jinja", "from jinja file\n");
  dir.write("additional_chat_templates/tool_use.jinja", "tools!");
  dir.write("additional_chat_templates/notes.txt", "ignored");
  auto m = load_chat_templates(dir.path());
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->templates.at("default"), "from jinja file\n");
  EXPECT_EQ(m->templates.at("tool_use"), "tools!");
  EXPECT_EQ(m->templates.size(), 2u);
}

TEST(TemplateFiles, ProcessorChatTemplateJson) {
  ModelDir dir;
  dir.write("chat_template.json", R"({"chat_template": "processor"})");
  auto m = load_chat_templates(dir.path());
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->templates.at("default"), "processor");
}

TEST(TemplateFiles, NoTemplateIsEmptyNotAnError) {
  ModelDir dir;
  dir.write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  auto m = load_chat_templates(dir.path());
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_TRUE(m->templates.empty());
  EXPECT_EQ(select_chat_template(m->templates, false), nullptr);
}

TEST(TemplateFiles, ErrorsNameTheFile) {
  ModelDir dir;
  dir.write("tokenizer_config.json", R"({"chat_template": 5})");
  auto m = load_chat_templates(dir.path());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::format);
  EXPECT_NE(m.error().message.find("tokenizer_config.json"), std::string::npos);
  dir.write("tokenizer_config.json", "{ not json");
  m = load_chat_templates(dir.path());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::format);
  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "x"}]})");
  EXPECT_FALSE(load_chat_templates(dir.path()));
  auto missing = load_chat_templates(dir.path() + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::io);
}

// The real models' tokenizer_config.json (fetched by tests/data/tokenizers/fetch.sh) hold the
// templates the goldens were rendered from.
TEST(TemplateFiles, RealModelConfigs) {
  for (const char* family : {"qwen3", "llama3", "gemma3"}) {
    std::string dir = std::string(NIBBLE_TEST_DATA_DIR) + "/cache/tokenizers/" + family + "/models";
    if (!fs::exists(dir + "/tokenizer_config.json"))
      GTEST_SKIP() << dir << " missing: run tests/data/tokenizers/fetch.sh";
    auto m = load_chat_templates(dir);
    ASSERT_TRUE(m) << m.error().to_string();
    auto golden = test::load_json(test::golden_path(family));
    EXPECT_EQ(m->templates.at("default"), golden["template"].get<std::string>()) << family;
    EXPECT_EQ(m->bos_token, golden["cases"][0]["bos_token"].get<std::string>()) << family;
    EXPECT_EQ(m->eos_token, golden["cases"][0]["eos_token"].get<std::string>()) << family;
  }
}

}  // namespace
}  // namespace nibble
