// The Model API on the CPU backend: a model split into 2-3 segments, batched steps, page layouts
// and cache continuation all give the same logits as the plain single-sequence run; Mistral's
// sliding window equals attention over the window alone; malformed steps and a full cache are
// typed errors; loading can be cancelled; info() describes the demo and EXL2 models.
#include <gtest/gtest.h>

#include <algorithm>

#include "../io/temp_dir.h"
#include "nibble/devices.h"
#include "nibble/model.h"
#include "ref_util.h"
#include "tiny_model.h"

namespace nibble {
namespace {

const std::vector<std::int32_t> kIds = {648, 579, 275, 276, 521, 35, 743, 806, 80, 460, 2081, 393, 371, 16, 261, 1, 353, 201};

std::vector<float> run_all(Model& m, const std::vector<std::int32_t>& ids) {
  std::vector<float> logits;
  auto seq = m.new_sequence();
  EXPECT_TRUE(seq->append(ids, true, logits).ok());
  return logits;
}

TEST(Model, SegmentChainsGiveIdenticalLogits) {
  auto one = load_demo_model();
  ASSERT_TRUE(one) << one.error().to_string();
  const auto want = run_all(**one, kIds);
  for (std::vector<int> split : {std::vector<int>{4}, std::vector<int>{1, 5}, std::vector<int>{3, 6, 7}}) {
    LoadOptions o;
    o.split_layers = split;
    auto m = load_demo_model(o);
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ(run_all(**m, kIds), want) << "split at " << split.front();
  }
  LoadOptions bad;
  bad.split_layers = {0};
  EXPECT_EQ(load_demo_model(bad).error().kind, ErrorKind::invalid_argument);
}

TEST(Model, BatchedStepMatchesSeparateRuns) {
  auto m = load_demo_model();
  ASSERT_TRUE(m);
  const std::vector<std::int32_t> a(kIds.begin(), kIds.begin() + 5), b(kIds.begin() + 5, kIds.end()), c = {42};
  auto pa = (*m)->allocate_pages(1), pb = (*m)->allocate_pages(1), pc = (*m)->allocate_pages(1);
  ASSERT_TRUE(pa && pb && pc);
  ForwardSeq seqs[3] = {{a, 0, *pa, true}, {b, 0, *pb, false}, {c, 0, *pc, true}};
  std::vector<float> logits;
  ASSERT_TRUE((*m)->forward(seqs, logits).ok());
  const int V = (*m)->vocab_size();
  ASSERT_EQ(logits.size(), static_cast<std::size_t>(5 + 1 + 1) * V);
  const auto la = run_all(**m, a), lb = run_all(**m, b), lc = run_all(**m, c);
  EXPECT_TRUE(std::equal(la.begin(), la.end(), logits.begin()));
  EXPECT_TRUE(std::equal(lb.end() - V, lb.end(), logits.begin() + 5 * V));
  EXPECT_TRUE(std::equal(lc.begin(), lc.end(), logits.begin() + 6 * V));
  (*m)->free_pages(*pa);
  (*m)->free_pages(*pb);
  (*m)->free_pages(*pc);
}

TEST(Model, PageLayoutAndContinuationDoNotChangeLogits) {
  LoadOptions small;
  small.page_size = 4;
  small.max_batch_tokens = 7;  // forces chunked prefill
  auto m = load_demo_model(small);
  auto ref = load_demo_model();
  ASSERT_TRUE(m && ref);
  const auto want = run_all(**ref, kIds);
  EXPECT_EQ(run_all(**m, kIds), want);

  // Scattered, reversed block table: the same numbers.
  auto pages = (*m)->allocate_pages(8);
  ASSERT_TRUE(pages);
  std::vector<std::int32_t> table(pages->rbegin(), pages->rend());
  std::vector<float> step, all;
  for (std::size_t at = 0; at < kIds.size(); at += 6) {
    const std::size_t n = std::min<std::size_t>(6, kIds.size() - at);
    ForwardSeq s{std::span<const std::int32_t>(kIds.data() + at, n), static_cast<std::int32_t>(at), table, true};
    ASSERT_TRUE((*m)->forward(std::span<const ForwardSeq>(&s, 1), step).ok());
    all.insert(all.end(), step.begin(), step.end());
  }
  EXPECT_EQ(all, want);
  (*m)->free_pages(*pages);

  // Token-by-token decode after a prefill reaches the same last logits.
  auto seq = (*ref)->new_sequence();
  std::vector<float> last;
  ASSERT_TRUE(seq->append(std::span<const std::int32_t>(kIds.data(), 10), false, last).ok());
  for (std::size_t i = 10; i < kIds.size(); ++i) ASSERT_TRUE(seq->append(std::span<const std::int32_t>(&kIds[i], 1), false, last).ok());
  EXPECT_EQ(seq->length(), static_cast<int>(kIds.size()));
  const int V = (*ref)->vocab_size();
  EXPECT_LT(rel_l2(last.data(), want.data() + (kIds.size() - 1) * V, V), 1e-6);
}

TEST(Model, SlidingWindowSeesOnlyTheWindow) {
  // One layer, window 4: the last position's logits equal a full-attention run over the last 4
  // tokens alone (RoPE depends only on relative positions).
  test::TinyModel w(1, "MistralForCausalLM", 3), full(1, "MistralForCausalLM", 3);
  w.config()["sliding_window"] = 4;
  test::TempDir dw, df;
  w.write(dw.path());
  full.write(df.path());
  auto mw = Model::load(dw.path());
  auto mf = Model::load(df.path());
  ASSERT_TRUE(mw && mf) << (mw ? "" : mw.error().to_string());
  const std::vector<std::int32_t> ids = {5, 17, 99, 3, 64, 21, 8, 120, 77};
  std::vector<float> lw, lf, lfull;
  ASSERT_TRUE((*mw)->new_sequence()->append(ids, false, lw).ok());
  ASSERT_TRUE((*mf)->new_sequence()->append(std::span<const std::int32_t>(ids.data() + ids.size() - 4, 4), false, lf).ok());
  ASSERT_TRUE((*mf)->new_sequence()->append(ids, false, lfull).ok());
  EXPECT_LT(rel_l2(lw.data(), lf.data(), lw.size()), 1e-5);
  EXPECT_GT(rel_l2(lfull.data(), lf.data(), lw.size()), 1e-3);  // the window matters here
}

TEST(Model, MalformedStepsAndFullCache) {
  LoadOptions o;
  o.context = 128;
  o.page_size = 64;
  o.max_batch_tokens = 16;
  auto m = load_demo_model(o);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->pages_total(), 2);
  std::vector<float> logits;
  auto pages = (*m)->allocate_pages(1);
  ASSERT_TRUE(pages);
  const std::vector<std::int32_t> too_many(17, 5), bad_token = {4096}, ok = {5};
  ForwardSeq s1{too_many, 0, *pages, false};
  EXPECT_EQ((*m)->forward(std::span<const ForwardSeq>(&s1, 1), logits).error().kind, ErrorKind::invalid_argument);
  ForwardSeq s2{bad_token, 0, *pages, false};
  EXPECT_EQ((*m)->forward(std::span<const ForwardSeq>(&s2, 1), logits).error().kind, ErrorKind::invalid_argument);
  ForwardSeq s3{ok, 64, *pages, false};  // position 64 is past the one page
  EXPECT_EQ((*m)->forward(std::span<const ForwardSeq>(&s3, 1), logits).error().kind, ErrorKind::invalid_argument);
  const std::int32_t stray = 99;
  ForwardSeq s4{ok, 0, std::span<const std::int32_t>(&stray, 1), false};
  EXPECT_EQ((*m)->forward(std::span<const ForwardSeq>(&s4, 1), logits).error().kind, ErrorKind::invalid_argument);
  auto seq = (*m)->new_sequence();
  const std::vector<std::int32_t> long_prompt(100, 7);
  EXPECT_EQ(seq->append(long_prompt, false, logits).error().kind, ErrorKind::out_of_memory);
  (*m)->free_pages(*pages);
  EXPECT_EQ((*m)->pages_free(), 2 - 1);  // the sequence still holds the page it got
  seq.reset();
  EXPECT_EQ((*m)->pages_free(), 2);
}

TEST(Model, LoadCanBeCancelled) {
  LoadOptions o;
  int calls = 0;
  o.progress = [&](std::size_t done, std::size_t total) {
    EXPECT_LE(done, total);
    return ++calls < 3;
  };
  auto m = load_demo_model(o);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::cancelled);
  EXPECT_EQ(calls, 3);
  // Without a GPU a CUDA device is refused with a typed error: `unsupported` when the engine was built
  // without CUDA, `device` when it was built with CUDA but no GPU or driver is present.
  if (list_gpus().empty()) {
    auto cuda = Model::load(demo_model_dir(), LoadOptions{"cuda:0"});
    ASSERT_FALSE(cuda);
    EXPECT_TRUE(cuda.error().kind == ErrorKind::unsupported || cuda.error().kind == ErrorKind::device)
        << cuda.error().to_string();
  }
}

TEST(Model, InfoOfTheDemoModel) {
  auto info = inspect_model(demo_model_dir());
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->architecture, "LlamaForCausalLM");
  EXPECT_EQ(info->parameters, 2 * 4096 * 384 + 8 * (2 * 384 + 384 * 384 * 2 + 2 * 128 * 384 + 3 * 384 * 1024) + 384);
  EXPECT_EQ(info->context_length, 2048);
  EXPECT_EQ(info->eos_ids, (std::vector<int>{2, 0}));  // config + generation_config.json
  ASSERT_EQ(info->layer_types.size(), 9u);
  for (const auto& t : info->layer_types) {
    EXPECT_EQ(t.format, "fp16") << t.name;
    EXPECT_DOUBLE_EQ(t.bits_per_weight, 16.0) << t.name;
  }
}

TEST(Model, InfoOfTheExl2Model) {
  auto info = inspect_model(exl2_model_dir());
  ASSERT_TRUE(info) << info.error().to_string();
  EXPECT_EQ(info->quant_method, "exl2");
  double weighted = 0, weights = 0;
  for (const auto& t : info->layer_types) {
    if (t.name == "embed_tokens") {
      EXPECT_EQ(t.format, "fp16");
      continue;
    }
    EXPECT_EQ(t.format, "exl2") << t.name;
    if (t.name == "lm_head") {
      EXPECT_GT(t.bits_per_weight, 6.0);  // head_bits 6 (+ an 8-bit group and scales)
      EXPECT_LT(t.bits_per_weight, 7.0);
      continue;
    }
    weighted += t.bits_per_weight * static_cast<double>(t.params);
    weights += static_cast<double>(t.params);
  }
  EXPECT_NEAR(weighted / weights, 4.0, 0.35);  // the converter's 4.0 bpw target
}

}  // namespace
}  // namespace nibble
