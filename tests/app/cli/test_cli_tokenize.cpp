// nibble-cli tokenize / detokenize, run in-process on the demo model's tokenizer; expected ids and
// text are HF tokenizers' (tests/data/refs/dictlm-16m/tokenizer_golden.json).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"

namespace nibble::cli {
namespace {

struct Run {
  int code;
  std::string out;
  std::string err;
};

Run run(std::vector<std::string> args) {
  args.insert(args.begin(), "nibble-cli");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  int code = run_cli(static_cast<int>(argv.size()), argv.data(), {out, err});
  return {code, out.str(), err.str()};
}

const std::string kModel = std::string(NIBBLE_TEST_DATA_DIR) + "/models/dictlm-16m-exl2-4.0";

nlohmann::json goldens() {
  std::ifstream in(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/tokenizer_golden.json");
  return nlohmann::json::parse(in);
}

TEST(CliTokenize, TextAsJsonIsHfIds) {
  for (const auto& c : goldens()) {
    std::string text = c["text"].get<std::string>();
    if (text.empty() || text.size() > 200) continue;
    auto r = run({"tokenize", kModel, "--text", text, "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out), c["ids"]) << text;
  }
}

TEST(CliTokenize, TextListsTokens) {
  auto r = run({"tokenize", kModel, "--text", "Hello, world!"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<int> hf = {42, 488, 81, 14, 2094, 3};  // the golden of "Hello, world!"
  std::istringstream lines(r.out);
  std::string line;
  for (int id : hf) {
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line.substr(0, line.find('\t')), std::to_string(id)) << line;
  }
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(line, "6 tokens");
}

TEST(CliTokenize, JsonLinesGiveOneArrayPerLine) {
  auto cases = goldens();
  auto path = std::filesystem::temp_directory_path() / "nibble_cli_tokenize.jsonl";
  {
    std::ofstream f(path);
    for (const auto& c : cases) f << c["text"].dump() << "\n";
  }
  auto r = run({"tokenize", kModel, "--jsonl", path.string()});
  std::filesystem::remove(path);
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::size_t i = 0;
  while (std::getline(lines, line)) {
    ASSERT_LT(i, cases.size());
    EXPECT_EQ(nlohmann::json::parse(line), cases[i]["ids"]) << i;
    ++i;
  }
  EXPECT_EQ(i, cases.size());
}

TEST(CliDetokenize, IdsGiveHfText) {
  for (const auto& c : goldens()) {
    auto ids = c["ids"].get<std::vector<int>>();
    if (ids.empty() || ids.size() > 60) continue;
    std::string list;
    for (std::size_t k = 0; k < ids.size(); ++k) list += (k ? "," : "") + std::to_string(ids[k]);
    auto r = run({"detokenize", kModel, "--ids", list});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, c["decoded"].get<std::string>() + "\n");
  }
  auto r = run({"detokenize", kModel, "--ids", "1,353,2", "--skip-special"});
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "user\n");
}

TEST(CliTokenize, UsageAndErrors) {
  EXPECT_EQ(run({"tokenize"}).code, 2);
  EXPECT_EQ(run({"tokenize", kModel}).code, 2);
  EXPECT_EQ(run({"tokenize", kModel, "--text", "a", "--jsonl", "x"}).code, 2);
  EXPECT_EQ(run({"tokenize", kModel, "--text", "a", "--frob"}).code, 2);
  EXPECT_EQ(run({"detokenize", kModel, "--ids", "1,x"}).code, 2);
  auto missing = run({"tokenize", "/nonexistent/model", "--text", "a"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("not_found"), std::string::npos) << missing.err;
  auto range = run({"detokenize", kModel, "--ids", "5000"});
  EXPECT_EQ(range.code, 1);
  EXPECT_NE(range.err.find("out of range"), std::string::npos) << range.err;
  auto bad = run({"tokenize", kModel, "--text", "a\xFF"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("UTF-8"), std::string::npos) << bad.err;
  EXPECT_EQ(run({"tokenize", "--help"}).code, 0);
}

}  // namespace
}  // namespace nibble::cli
