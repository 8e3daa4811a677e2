// nibble-cli info, generate and perplexity on the demo and EXL2 models: output contents, JSON
// fields, greedy ids matching transformers' continuations (tests/data/refs), text prompts through
// the tokenizer, and usage/load errors with their exit codes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "nibble/devices.h"
#include "nibble/tokenizer.h"

namespace nibble::cli {
namespace {

using test::run_cli_args;

const std::string kDemo = std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";
const std::string kExl2 = std::string(NIBBLE_TEST_DATA_DIR) + "/models/dictlm-16m-exl2-4.0";

nlohmann::json greedy_refs() {
  std::ifstream in(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/greedy.json");
  return nlohmann::json::parse(in);
}

std::string join(const std::vector<int>& ids) {
  std::string s;
  for (int id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

TEST(CliInfo, DemoModel) {
  auto r = run_cli_args({"info", kDemo});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("LlamaForCausalLM"), std::string::npos);
  EXPECT_NE(r.out.find("15.74 M"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2048 tokens"), std::string::npos);
  EXPECT_NE(r.out.find("mlp.down_proj"), std::string::npos);
  auto j = run_cli_args({"info", kDemo, "--json"});
  ASSERT_EQ(j.code, 0);
  const auto info = nlohmann::json::parse(j.out);
  EXPECT_EQ(info["parameters"], 15735168);
  EXPECT_EQ(info["vocab_size"], 4096);
  EXPECT_EQ(info["layer_types"].size(), 9u);
}

TEST(CliInfo, Exl2ModelShowsBitsPerLayerType) {
  auto j = run_cli_args({"info", kExl2, "--json"});
  ASSERT_EQ(j.code, 0) << j.err;
  const auto info = nlohmann::json::parse(j.out);
  EXPECT_EQ(info["quant_method"], "exl2");
  for (const auto& t : info["layer_types"]) {
    if (t["name"] == "embed_tokens") continue;
    EXPECT_EQ(t["format"], "exl2") << t["name"];
    EXPECT_GT(t["bits_per_weight"].get<double>(), 3.0);
    EXPECT_LT(t["bits_per_weight"].get<double>(), 7.0);
  }
}

TEST(CliInfo, Errors) {
  auto missing = run_cli_args({"info", "/nonexistent/model"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("not_found"), std::string::npos) << missing.err;
  EXPECT_EQ(run_cli_args({"info"}).code, 2);
  EXPECT_EQ(run_cli_args({"info", kDemo, "--frobnicate"}).code, 2);
}

TEST(CliGenerate, GreedyIdsMatchTransformers) {
  const auto ref = greedy_refs()[0];
  auto r = run_cli_args({"generate", kDemo, "--prompt-ids", join(ref["prompt_ids"].get<std::vector<int>>()), "--max-tokens",
                         "48", "--greedy", "--ignore-eos", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ids"], ref["greedy_ids"]);
  EXPECT_EQ(j["stop"], "length");
  EXPECT_EQ(j["generated_tokens"], 48);
}

TEST(CliGenerate, TextPromptThroughTheTokenizer) {
  if (auto tok = Tokenizer::load(kDemo); !tok) GTEST_SKIP() << "tokenizer not available: " << tok.error().to_string();
  const auto ref = greedy_refs()[1];
  auto r = run_cli_args({"generate", kDemo, "--prompt", ref["prompt_text"].get<std::string>(), "--max-tokens", "48",
                         "--greedy", "--ignore-eos", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt_ids"], ref["prompt_ids"]);
  EXPECT_EQ(j["ids"], ref["greedy_ids"]);
  EXPECT_EQ(j["text"], ref["greedy_text"]);
  // --chat renders the same turn through the chat template (without the system message).
  auto chat = run_cli_args({"generate", kDemo, "--chat", ref["question"].get<std::string>(), "--max-tokens",
                            "8", "--greedy", "--json"});
  ASSERT_EQ(chat.code, 0) << chat.err;
  EXPECT_EQ(nlohmann::json::parse(chat.out)["prompt_ids"][0], 1);  // <|im_start|>
  // Text mode streams the decoded text.
  auto text = run_cli_args({"generate", kDemo, "--prompt", ref["prompt_text"].get<std::string>(), "--max-tokens", "12",
                            "--greedy"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_EQ(text.out.substr(0, 9), ref["greedy_text"].get<std::string>().substr(0, 9));
  EXPECT_NE(text.err.find("tokens/s"), std::string::npos);
}

TEST(CliGenerate, StopsAtEndOfSequence) {
  const auto ref = greedy_refs()[0];
  auto r = run_cli_args({"generate", kDemo, "--prompt-ids", join(ref["prompt_ids"].get<std::vector<int>>()), "--max-tokens",
                         "48", "--greedy", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["stop"], "eos");
  const auto ids = j["ids"].get<std::vector<int>>();
  const auto want = ref["greedy_ids"].get<std::vector<int>>();
  ASSERT_LT(ids.size(), want.size());
  EXPECT_TRUE(std::equal(ids.begin(), ids.end(), want.begin()));
  EXPECT_EQ(ids.back(), 2);  // <|im_end|>
}

TEST(CliGenerate, UsageAndLoadErrors) {
  EXPECT_EQ(run_cli_args({"generate", kDemo}).code, 2);
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt", "a", "--prompt-ids", "1"}).code, 2);
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt-ids", "1,x"}).code, 2);
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt-ids", "1", "--top-p", "2"}).code, 2);
  EXPECT_EQ(run_cli_args({"generate", kDemo, "--prompt-ids", "1", "--device", "tpu"}).code, 2);
  auto vocab = run_cli_args({"generate", kDemo, "--prompt-ids", "5000", "--greedy"});
  EXPECT_EQ(vocab.code, 1);
  EXPECT_NE(vocab.err.find("invalid_argument"), std::string::npos) << vocab.err;
  if (nibble::list_gpus().empty()) {  // no GPU here: the CUDA device is refused with a typed error
    auto cuda = run_cli_args({"generate", kDemo, "--prompt-ids", "1", "--device", "cuda:0"});
    EXPECT_EQ(cuda.code, 1);
    EXPECT_TRUE(cuda.err.find("unsupported") != std::string::npos || cuda.err.find("device") != std::string::npos)
        << cuda.err;
  }
  EXPECT_EQ(run_cli_args({"generate", "/nonexistent", "--prompt-ids", "1"}).code, 1);
}

TEST(CliPerplexity, SmallRunAndErrors) {
  if (auto tok = Tokenizer::load(kDemo); !tok) GTEST_SKIP() << "tokenizer not available: " << tok.error().to_string();
  const std::string corpus = std::string(NIBBLE_TEST_DATA_DIR) + "/corpus/heldout_raw.txt.gz";
  auto r = run_cli_args({"perplexity", kDemo, "--file", corpus, "--windows", "2", "--window-len", "64", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["protocol"], "ppl_raw");
  EXPECT_EQ(j["windows"], 2);
  EXPECT_EQ(j["tokens_scored"], 2 * 63);
  EXPECT_GT(j["perplexity"].get<double>(), 5.0);  // a 16M-parameter model on held-out text
  EXPECT_LT(j["perplexity"].get<double>(), 100.0);
  auto text = run_cli_args({"perplexity", kDemo, "--file", corpus, "--windows", "1", "--window-len", "32"});
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_EQ(text.out.rfind("perplexity ", 0), 0u) << text.out;

  EXPECT_EQ(run_cli_args({"perplexity", kDemo}).code, 2);
  EXPECT_EQ(run_cli_args({"perplexity", kDemo, "--file", corpus, "--chat-jsonl", corpus}).code, 2);
  EXPECT_EQ(run_cli_args({"perplexity", kDemo, "--file", corpus, "--window-len", "1"}).code, 2);
  auto missing = run_cli_args({"perplexity", kDemo, "--file", "/nonexistent.txt"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("io"), std::string::npos);
  auto bad_jsonl = run_cli_args({"perplexity", kDemo, "--chat-jsonl", corpus, "--dialogs", "2"});
  EXPECT_EQ(bad_jsonl.code, 1);  // raw text is not {q, a} lines
  EXPECT_NE(bad_jsonl.err.find("line 1"), std::string::npos) << bad_jsonl.err;
}

}  // namespace
}  // namespace nibble::cli
