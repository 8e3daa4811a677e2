// nibble-cli perplexity reproduces the reference numbers end to end (tokenizer, chat template,
// engine): ppl_raw 21.8757 and ppl_chat 5.1220 for the demo model (transformers, within 0.2%),
// ppl_raw 22.2855 for ExLlamaV2's EXL2 file (within 0.5%). Minutes on two cores: label slow.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "nibble/tokenizer.h"

namespace nibble::cli {
namespace {

using test::run_cli_args;

const std::string kDemo = std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";
const std::string kCorpus = std::string(NIBBLE_TEST_DATA_DIR) + "/corpus/";

double ppl_of(const std::vector<std::string>& args) {
  auto r = run_cli_args(args);
  EXPECT_EQ(r.code, 0) << r.err;
  return r.code == 0 ? nlohmann::json::parse(r.out)["perplexity"].get<double>() : 0.0;
}

TEST(CliPerplexityProtocol, Raw) {
  if (auto tok = Tokenizer::load(kDemo); !tok) GTEST_SKIP() << "tokenizer not available: " << tok.error().to_string();
  EXPECT_NEAR(ppl_of({"perplexity", kDemo, "--file", kCorpus + "heldout_raw.txt.gz", "--json"}), 21.8757, 21.8757 * 0.002);
  EXPECT_NEAR(ppl_of({"perplexity", std::string(NIBBLE_TEST_DATA_DIR) + "/models/dictlm-16m-exl2-4.0", "--file",
                      kCorpus + "heldout_raw.txt.gz", "--windows", "64", "--window-len", "512", "--json"}),
              22.2855, 22.2855 * 0.005);
}

TEST(CliPerplexityProtocol, Chat) {
  if (auto tok = Tokenizer::load(kDemo); !tok) GTEST_SKIP() << "tokenizer not available: " << tok.error().to_string();
  EXPECT_NEAR(ppl_of({"perplexity", kDemo, "--chat-jsonl", kCorpus + "heldout_chat.jsonl.gz", "--system",
                      "You are a helpful dictionary assistant.", "--dialogs", "256", "--json"}),
              5.1220, 5.1220 * 0.002);
}

}  // namespace
}  // namespace nibble::cli
