// nibble-cli generate's runtime options and nibble-cli chat on the demo model: --batch results in
// input order equal to single runs, --chat/--system rendering, --stop, --seed, speculative flags,
// usage errors; an interactive chat fed from standard input.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "../../engine/io/temp_dir.h"
#include "cli_run.h"

namespace nibble::cli {
namespace {

using test::run_cli_args;

const std::string kDemo = std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";

nlohmann::json run_json(std::vector<std::string> args) {
  auto r = run_cli_args(std::move(args));
  EXPECT_EQ(r.code, 0) << r.err;
  return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

TEST(CliGenerateRuntime, BatchResultsComeInInputOrderAndMatchSingleRuns) {
  nibble::test::TempDir dir;
  dir.write("in.jsonl",
            "\"A river is\"\n"
            "{\"chat\": \"What is a cat?\", \"system\": \"Be brief.\"}\n"
            "\n"
            "{\"prompt_ids\": [648, 579, 275], \"max_tokens\": 5}\n"
            "{\"prompt\": \"Music is the art of\"}\n");
  auto r = run_cli_args({"generate", kDemo, "--batch", dir.file("in.jsonl"), "--greedy", "--max-tokens", "16"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<nlohmann::json> out;
  for (std::string l; std::getline(lines, l);) out.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(out.size(), 4u);
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i]["index"], i);
  EXPECT_NE(r.err.find("tokens/s aggregate"), std::string::npos);
  auto single = run_json({"generate", kDemo, "--prompt", "A river is", "--greedy", "--max-tokens", "16", "--json"});
  EXPECT_EQ(out[0]["ids"], single["ids"]);
  auto chat = run_json({"generate", kDemo, "--chat", "What is a cat?", "--system", "Be brief.", "--greedy", "--max-tokens",
                        "16", "--json"});
  EXPECT_EQ(out[1]["ids"], chat["ids"]);
  EXPECT_LE(out[2]["ids"].size(), 5u);
  auto ids = run_json({"generate", kDemo, "--prompt-ids", "648,579,275", "--greedy", "--max-tokens", "5", "--json"});
  EXPECT_EQ(out[2]["ids"], ids["ids"]);
  auto music = run_json({"generate", kDemo, "--prompt", "Music is the art of", "--greedy", "--max-tokens", "16", "--json"});
  EXPECT_EQ(out[3]["ids"], music["ids"]);
  EXPECT_NE(out[0]["ids"], out[3]["ids"]);

  dir.write("bad.jsonl", "\"ok\"\n{\"nothing\": 1}\n");
  auto bad = run_cli_args({"generate", kDemo, "--batch", dir.file("bad.jsonl")});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("bad.jsonl:2"), std::string::npos) << bad.err;
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--batch", dir.file("missing.jsonl")}).code, 1);
}

TEST(CliGenerateRuntime, ChatWithSystemMessage) {
  auto with = run_json({"generate", kDemo, "--chat", "What is a cat?", "--system", "Be brief.", "--greedy", "--max-tokens", "4",
                        "--json"});
  auto without = run_json({"generate", kDemo, "--chat", "What is a cat?", "--greedy", "--max-tokens", "4", "--json"});
  EXPECT_EQ(with["prompt_ids"][0], 1);  // <|im_start|>
  EXPECT_GT(with["prompt_ids"].size(), without["prompt_ids"].size());
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt", "x", "--system", "s"}).code, 2);
}

TEST(CliGenerateRuntime, StopSeedAndSpeculativeFlags) {
  auto free = run_json({"generate", kDemo, "--prompt", "A river is", "--greedy", "--max-tokens", "20", "--ignore-eos", "--json"});
  const std::string text = free["text"];
  ASSERT_GT(text.size(), 8u);
  const std::string stop = text.substr(4, 3);
  auto stopped = run_json({"generate", kDemo, "--prompt", "A river is", "--greedy", "--max-tokens", "20", "--ignore-eos",
                           "--stop", stop, "--json"});
  EXPECT_EQ(stopped["stop"], "stop_string");
  EXPECT_EQ(stopped["text"], text.substr(0, text.find(stop)));

  auto sample = [&](const char* seed) {
    return run_json({"generate", kDemo, "--prompt", "A river is", "--temperature", "1.5", "--max-tokens", "12",
                     "--ignore-eos", "--seed", seed, "--json"})["ids"];
  };
  EXPECT_EQ(sample("7"), sample("7"));
  EXPECT_NE(sample("7"), sample("8"));

  auto ngram = run_json({"generate", kDemo, "--prompt", "A river is", "--greedy", "--max-tokens", "20", "--ignore-eos",
                         "--ngram-draft", "--json"});
  EXPECT_EQ(ngram["ids"], free["ids"]);
  auto drafted = run_json({"generate", kDemo, "--prompt", "A river is", "--greedy", "--max-tokens", "20", "--ignore-eos",
                           "--draft", kDemo, "--draft-tokens", "3", "--json"});
  EXPECT_EQ(drafted["ids"], free["ids"]);
  EXPECT_DOUBLE_EQ(drafted["draft_acceptance"].get<double>(), 1.0);
}

TEST(CliGenerateRuntime, UsageErrors) {
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt", "a", "--cache", "q5"}).code, 2);
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt", "a", "--logit-bias", "7"}).code, 2);
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt", "a", "--top-k", "-1"}).code, 2);
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt", "a", "--ngram-draft", "--draft", kDemo}).code, 2);
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt", "a", "--chat", "b"}).code, 2);
  auto bad_draft = run_cli_args({"generate", kDemo, "--prompt", "a", "--draft", "/nonexistent"});
  EXPECT_EQ(bad_draft.code, 1);
  EXPECT_NE(bad_draft.err.find("draft"), std::string::npos);
}

TEST(CliChat, TwoTurnsFromStandardInput) {
  std::istringstream in("What is a dog?\n/reset\nWhat is a dog?\nAnd a cat?\n/exit\nignored\n");
  auto* old = std::cin.rdbuf(in.rdbuf());
  auto r = run_cli_args({"chat", kDemo, "--greedy", "--max-tokens", "12", "--stats"});
  std::cin.rdbuf(old);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("(conversation cleared)"), std::string::npos);
  // Three replies with timings; the same first question gives the same reply after /reset.
  std::size_t n = 0;
  for (std::size_t at = r.err.find("first token after"); at != std::string::npos; at = r.err.find("first token after", at + 1)) ++n;
  EXPECT_EQ(n, 3u) << r.err;
  const auto first = r.out.substr(2, r.out.find('\n') - 2);
  EXPECT_FALSE(first.empty());
  EXPECT_NE(r.out.find("> " + first, r.out.find("(conversation cleared)")), std::string::npos) << r.out;
  EXPECT_EQ(run_cli_args({"chat"}).code, 2);
}

}  // namespace
}  // namespace nibble::cli
