// nibble-cli template: prints a model's chat template rendering for a conversation file,
// byte-identical to HF's (dictlm-16m's reference renderings, Qwen3's Jinja2 goldens with tools
// and --var), and falls back to ChatML with a positioned error when the template fails.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"

namespace nibble::cli {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun run(std::vector<std::string> args) {
  args.insert(args.begin(), {"nibble-cli", "template"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  int code = run_cli(static_cast<int>(argv.size()), argv.data(), {out, err});
  return {code, out.str(), err.str()};
}

nlohmann::ordered_json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return nlohmann::ordered_json::parse(buf.str());
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("nibble-cli-template-" + std::string(
                        ::testing::UnitTest::GetInstance()->current_test_info()->name()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

TEST(CliTemplate, DictlmMatchesHfReference) {
  TempDir tmp;
  auto refs = read_json(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/chat_template.json");
  for (const auto& ref : refs) {
    std::string messages = tmp.write("messages.json", ref["messages"].dump());
    std::vector<std::string> args = {std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m", "--messages", messages};
    if (ref["add_generation_prompt"].get<bool>()) args.push_back("--add-generation-prompt");
    CliRun r = run(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, ref["text"].get<std::string>());
  }
}

TEST(CliTemplate, Qwen3ToolsAndVariablesMatchJinja2) {
  std::string model = std::string(NIBBLE_TEST_DATA_DIR) + "/cache/tokenizers/qwen3/models";
  if (!fs::exists(model + "/tokenizer_config.json")) GTEST_SKIP() << model << " missing: run tests/data/tokenizers/fetch.sh";
  TempDir tmp;
  auto goldens = read_json(std::string(NIBBLE_TEST_DATA_DIR) + "/templates/qwen3.json");
  int checked = 0;
  for (const auto& c : goldens["cases"]) {
    std::string name = c["name"].get<std::string>();
    if (name != "tools_no_system" && name != "thinking_off" && name != "reasoning_content_history") continue;
    std::vector<std::string> args = {model, "--messages", tmp.write("m.json", c["messages"].dump())};
    if (c.contains("tools")) args.insert(args.end(), {"--tools", tmp.write("t.json", c["tools"].dump())});
    if (c.value("add_generation_prompt", false)) args.push_back("--add-generation-prompt");
    if (c.contains("extra"))
      for (const auto& [k, v] : c["extra"].items()) args.push_back("--var=" + k + "=" + v.dump());
    CliRun r = run(args);
    EXPECT_EQ(r.code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, c["expected"].get<std::string>()) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(CliTemplate, BrokenTemplateFallsBackToChatml) {
  TempDir tmp;
  tmp.write("chat_template.jinja", "{% for m in messages %}\n{{ m.content | nosuchfilter }}\n{% endfor %}");
  std::string messages = tmp.write("messages.json", R"([{"role": "user", "content": "hi"}])");
  CliRun r = run({tmp.path(), "--messages", messages, "--add-generation-prompt"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("line 2, column 16: syntax error: No filter named 'nosuchfilter'."), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("falling back to a plain ChatML prompt"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  r = run({tmp.path(), "--messages", messages, "--no-fallback"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
}

TEST(CliTemplate, TemplateRaisingReportsItsMessage) {
  TempDir tmp;
  tmp.write("tokenizer_config.json",
            R"({"chat_template": "{{ raise_exception('only ' ~ who) }}", "bos_token": {"content": "<s>"}})");
  std::string messages = tmp.write("messages.json", "[]");
  CliRun r = run({tmp.path(), "--messages", messages, "--var", "who=users", "--no-fallback"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("the template raised: only users"), std::string::npos) << r.err;
}

TEST(CliTemplate, UsageErrors) {
  EXPECT_EQ(run({}).code, 2);
  EXPECT_EQ(run({"dir"}).code, 2);
  EXPECT_EQ(run({"dir", "--messages", "m.json", "--bogus"}).code, 2);
  EXPECT_EQ(run({"dir", "--messages", "m.json", "--var", "novalue"}).code, 2);
  CliRun r = run({"/nonexistent-model-dir", "--messages", "/nonexistent.json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent.json"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nibble::cli
