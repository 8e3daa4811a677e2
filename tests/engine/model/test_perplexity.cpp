// Perplexity of the demo model and of ExLlamaV2's EXL2 file against the reference numbers
// (tests/data/refs/dictlm-16m/ppl.json from transformers; EXL2's from ExLlamaV2 in BENCHMARKS.md),
// following the ppl_raw and ppl_chat protocols. Needs the tokenizer and chat template; skips with
// the reason when they cannot be loaded.
#include <gtest/gtest.h>

#include <sstream>

#include "io/text_file.h"
#include "nibble/chat_template.h"
#include "nibble/model.h"
#include "nibble/tokenizer.h"
#include "ref_util.h"

namespace nibble {
namespace {

const std::string kCorpus = std::string(NIBBLE_TEST_DATA_DIR) + "/corpus/";

std::unique_ptr<Tokenizer> tokenizer_or_skip_reason(std::string& reason) {
  auto tok = Tokenizer::load(demo_model_dir());
  if (!tok) {
    reason = "tokenizer not available: " + tok.error().to_string();
    return nullptr;
  }
  return std::move(tok).value();
}

std::vector<std::int32_t> raw_ids(const Tokenizer& tok) {
  auto text = read_text_file(kCorpus + "heldout_raw.txt.gz");
  EXPECT_TRUE(text) << text.error().to_string();
  auto ids = tok.encode(*text, false);
  EXPECT_TRUE(ids) << ids.error().to_string();
  return ids ? *ids : std::vector<std::int32_t>{};
}

double reference(const char* key) {
  return read_json(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/ppl.json")[key].get<double>();
}

TEST(Perplexity, RawFp16MatchesTransformers) {
  std::string why;
  auto tok = tokenizer_or_skip_reason(why);
  if (!tok) GTEST_SKIP() << why;
  auto model = load_demo_model();
  ASSERT_TRUE(model);
  const auto ids = raw_ids(*tok);
  ASSERT_GE(ids.size(), 64u * 512u);
  auto r = perplexity_windows(**model, ids, 64, 512);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->tokens_scored, 64 * 511);
  const double want = reference("ppl_raw");
  std::printf("ppl_raw fp16 %.4f (transformers %.4f)\n", r->perplexity, want);
  EXPECT_NEAR(r->perplexity, want, want * 0.002);
}

TEST(Perplexity, RawExl2MatchesExLlamaV2) {
  std::string why;
  auto tok = tokenizer_or_skip_reason(why);
  if (!tok) GTEST_SKIP() << why;
  auto model = Model::load(exl2_model_dir());
  ASSERT_TRUE(model) << model.error().to_string();
  auto r = perplexity_windows(**model, raw_ids(*tok), 64, 512);
  ASSERT_TRUE(r) << r.error().to_string();
  const double want = 22.2855;  // ExLlamaV2 0.2.7 on this file (BENCHMARKS.md)
  std::printf("ppl_raw exl2 %.4f (ExLlamaV2 %.4f)\n", r->perplexity, want);
  EXPECT_NEAR(r->perplexity, want, want * 0.005);
}

TEST(Perplexity, ChatFp16MatchesTransformers) {
  std::string why;
  auto tok = tokenizer_or_skip_reason(why);
  if (!tok) GTEST_SKIP() << why;
  auto templates = load_chat_templates(demo_model_dir());
  ASSERT_TRUE(templates) << templates.error().to_string();
  const std::string* source = select_chat_template(templates->templates, false);
  ASSERT_NE(source, nullptr);
  auto tmpl = ChatTemplate::parse(*source);
  ASSERT_TRUE(tmpl) << tmpl.error().to_string();
  auto text = read_text_file(kCorpus + "heldout_chat.jsonl.gz");
  ASSERT_TRUE(text);
  std::istringstream lines(*text);
  std::string line;
  std::vector<std::vector<std::int32_t>> dialogs;
  while (dialogs.size() < 256 && std::getline(lines, line)) {
    const auto d = nlohmann::json::parse(line);
    ChatRenderInput in;
    in.messages = nlohmann::ordered_json::array({{{"role", "system"}, {"content", "You are a helpful dictionary assistant."}},
                                                 {{"role", "user"}, {"content", d["q"]}},
                                                 {{"role", "assistant"}, {"content", d["a"]}}});
    in.bos_token = templates->bos_token;
    in.eos_token = templates->eos_token;
    auto rendered = (*tmpl)->render(in);
    ASSERT_TRUE(rendered) << rendered.error().to_string();
    auto ids = tok->encode(*rendered, false);
    ASSERT_TRUE(ids);
    dialogs.push_back(*ids);
  }
  ASSERT_EQ(dialogs.size(), 256u);
  auto model = load_demo_model();
  ASSERT_TRUE(model);
  auto r = perplexity_dialogs(**model, dialogs);
  ASSERT_TRUE(r) << r.error().to_string();
  const double want = reference("ppl_chat");
  std::printf("ppl_chat fp16 %.4f (transformers %.4f) over %lld tokens\n", r->perplexity, want,
              static_cast<long long>(r->tokens_scored));
  EXPECT_NEAR(r->perplexity, want, want * 0.002);
}

}  // namespace
}  // namespace nibble
