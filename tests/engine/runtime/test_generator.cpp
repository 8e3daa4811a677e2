// The Generator on the demo model (CPU backend): batched greedy equals each prompt alone (the
// oracle is Model-level generate(), which shares no code with the runtime), prefix reuse of a
// second turn, stop ids/strings, min tokens, UTF-8-safe streaming, cancellation, a cache too small
// for every job at once, speculative decoding, and the bookkeeping of sampling on the device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "nibble/runtime.h"
#include "nibble/tokenizer.h"
#include "../io/temp_dir.h"
#include "../model/tiny_model.h"

namespace nibble {
namespace {

std::string demo_dir() { return std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m"; }

std::unique_ptr<Model> load(int page_size = 16, int max_batch = 64, int context = 0) {
  LoadOptions o;
  o.page_size = page_size;
  o.max_batch_tokens = max_batch;
  o.context = context;
  o.threads = 2;
  auto m = Model::load(demo_dir(), o);
  EXPECT_TRUE(m) << m.error().to_string();
  return m ? std::move(*m) : nullptr;
}

std::unique_ptr<Tokenizer> tokenizer() {
  auto t = Tokenizer::load(demo_dir());
  EXPECT_TRUE(t) << t.error().to_string();
  return t ? std::move(*t) : nullptr;
}

const char* kPrompts[16] = {
    "The meaning of the word apple is",   "A river is",
    "To run means",                        "Definition of house:",
    "The cat sat on the",                  "In mathematics, a number",
    "Water boils at",                      "The opposite of hot is",
    "A book is a",                         "Music is the art of",
    "The sun rises in the",                "Bread is made from",
    "A teacher is someone who",            "The word 'quick' means",
    "Mountains are",                       "A computer program is a",
};

std::vector<std::int32_t> encode(const Tokenizer& t, const std::string& text) {
  auto ids = t.encode(text, true);
  EXPECT_TRUE(ids);
  return ids ? *ids : std::vector<std::int32_t>{};
}

JobSettings greedy_job(std::vector<std::int32_t> prompt, int max_new) {
  JobSettings j;
  j.prompt = std::move(prompt);
  j.max_new_tokens = max_new;
  j.sampler.temperature = 0;
  return j;
}

std::vector<std::int32_t> alone(Model& m, std::span<const std::int32_t> prompt, int max_new, bool eos = true) {
  GenerateOptions g;
  g.max_tokens = max_new;
  g.stop_at_eos = eos;
  g.temperature = 0;
  auto out = generate(m, prompt, g);
  EXPECT_TRUE(out) << out.error().to_string();
  return out ? *out : std::vector<std::int32_t>{};
}

TEST(Generator, SixteenBatchedPromptsGiveTheirGreedyTokensAlone) {
  auto tok = tokenizer();
  auto ref = load(64, 512);
  auto m = load(16, 64);  // small pages and steps: chunked prefill interleaved with decode
  ASSERT_TRUE(tok && ref && m);
  std::vector<JobSettings> jobs;
  std::vector<std::vector<std::int32_t>> want;
  for (int i = 0; i < 16; ++i) {
    auto p = encode(*tok, kPrompts[i]);
    // Different lengths, some longer than one step (64 tokens): repeat a few prompts.
    if (i % 4 == 3) {
      auto again = p;
      for (int r = 0; r < 6; ++r) p.insert(p.end(), again.begin(), again.end());
    }
    want.push_back(alone(**&ref, p, 24));
    jobs.push_back(greedy_job(p, 24));
  }
  GeneratorOptions go;
  go.tokenizer = tok.get();
  go.prefill_chunk = 24;
  auto results = generate_all(*m, jobs, go);
  ASSERT_TRUE(results) << results.error().to_string();
  for (int i = 0; i < 16; ++i) {
    const auto& r = (*results)[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.ids, want[static_cast<std::size_t>(i)]) << "prompt " << i;
    EXPECT_TRUE(r.reason == StopReason::eos || r.reason == StopReason::length);
    auto text = tok->decode(r.ids, false);
    ASSERT_TRUE(text);
    if (r.reason == StopReason::length) {
      EXPECT_EQ(r.text, *text) << "prompt " << i;
    }
    EXPECT_GT(r.timings.ttft_s, 0);
  }
  // The checker can fail: a different prompt gives different tokens.
  EXPECT_NE((*results)[0].ids, (*results)[1].ids);
}

TEST(Generator, SecondTurnReusesTheFirstTurnsPages) {
  auto tok = tokenizer();
  auto m = load(16, 64);
  ASSERT_TRUE(tok && m);
  GeneratorOptions go;
  go.tokenizer = tok.get();
  auto gen = Generator::create(*m, go);
  ASSERT_TRUE(gen);
  const auto turn1 = encode(*tok, "<|im_start|>user\nWhat is a river? Please explain in detail.<|im_end|>\n<|im_start|>assistant\n");
  auto j1 = greedy_job(turn1, 40);
  j1.stop_at_model_eos = false;
  auto id1 = (*gen)->submit(j1);
  ASSERT_TRUE(id1);
  ASSERT_TRUE((*gen)->run_until_idle());
  auto r1 = (*gen)->take_result(*id1);
  ASSERT_TRUE(r1);
  ASSERT_EQ(r1->ids.size(), 40u);
  std::vector<std::int32_t> turn2 = turn1;
  turn2.insert(turn2.end(), r1->ids.begin(), r1->ids.end());
  const auto more = encode(*tok, "<|im_end|>\n<|im_start|>user\nAnd a lake?<|im_end|>\n<|im_start|>assistant\n");
  turn2.insert(turn2.end(), more.begin(), more.end());

  auto id2 = (*gen)->submit(greedy_job(turn2, 24));
  ASSERT_TRUE(id2);
  ASSERT_TRUE((*gen)->run_until_idle());
  auto r2 = (*gen)->take_result(*id2);
  ASSERT_TRUE(r2);
  // Turn 1 wrote KV for its prompt and all but its last token: every full page of that is reused.
  const int written = static_cast<int>(turn1.size() + r1->ids.size()) - 1;
  const int reused = written / 16 * 16;
  EXPECT_GT(reused, 0);
  EXPECT_EQ(r2->timings.cached_tokens, reused);
  EXPECT_EQ(r2->timings.prefilled_tokens, static_cast<int>(turn2.size()) - reused);
  EXPECT_GE((*gen)->cache_stats().hits, reused / 16);
  // Identical tokens to a run without any cache.
  auto fresh = load(16, 64);
  EXPECT_EQ(r2->ids, alone(*fresh, turn2, 24));
  // A regenerate of turn 2 reuses as much again.
  auto id3 = (*gen)->submit(greedy_job(turn2, 24));
  ASSERT_TRUE((*gen)->run_until_idle());
  auto r3 = (*gen)->take_result(*id3);
  EXPECT_EQ(r3->ids, r2->ids);
  EXPECT_EQ(r3->timings.cached_tokens, static_cast<int>(turn2.size() - 1) / 16 * 16);
}

TEST(Generator, StopStringAcrossTokensIsHeldBackAndCut) {
  auto tok = tokenizer();
  auto m = load();
  ASSERT_TRUE(tok && m);
  GeneratorOptions go;
  go.tokenizer = tok.get();
  const auto prompt = encode(*tok, "The meaning of the word apple is");
  auto plain_job = greedy_job(prompt, 30);
  plain_job.stop_at_model_eos = false;
  auto free_run = generate_all(*m, {plain_job}, go);
  ASSERT_TRUE(free_run);
  const auto& full = (*free_run)[0];
  // A stop string made of the end of one token and the start of the next ones.
  std::string before;
  std::size_t boundary = 0;
  for (std::size_t i = 0; i + 3 < full.ids.size(); ++i) {
    auto t = tok->decode(std::span<const std::int32_t>(full.ids.data(), i + 1), false);
    if (t->size() >= 2 && t->size() + 3 <= full.text.size() && i >= 3) {
      boundary = t->size();
      break;
    }
  }
  ASSERT_GT(boundary, 0u);
  const std::string stop = full.text.substr(boundary - 2, 5);
  const std::size_t at = full.text.find(stop);
  JobSettings j = plain_job;
  j.stop_strings = {stop};
  std::string streamed;
  int updates = 0;
  j.on_update = [&](const JobUpdate& u) {
    streamed += u.text;
    ++updates;
    return true;
  };
  auto r = generate_all(*m, {j}, go);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].reason, StopReason::stop_string);
  EXPECT_EQ((*r)[0].text, full.text.substr(0, at));
  EXPECT_EQ(streamed, full.text.substr(0, at));  // nothing of the stop string was ever streamed
  EXPECT_GT(updates, 1);
  // Kept when asked.
  j.include_stop_string = true;
  j.on_update = {};
  r = generate_all(*m, {j}, go);
  EXPECT_EQ((*r)[0].text, full.text.substr(0, at + stop.size()));
}

TEST(Generator, StopIdsAndMinTokens) {
  auto tok = tokenizer();
  auto m = load();
  ASSERT_TRUE(tok && m);
  const auto prompt = encode(*tok, "A river is");
  auto base = generate_all(*m, {greedy_job(prompt, 12)});
  ASSERT_TRUE(base);
  const auto ids = (*base)[0].ids;
  ASSERT_GE(ids.size(), 6u);
  JobSettings j = greedy_job(prompt, 12);
  j.stop_ids = {ids[2]};
  auto r = generate_all(*m, {j});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].reason, StopReason::eos);
  EXPECT_EQ((*r)[0].ids, std::vector<std::int32_t>(ids.begin(), ids.begin() + 3));
  // With min tokens the stop id is banned until 5 tokens are out.
  j.min_new_tokens = 5;
  r = generate_all(*m, {j});
  ASSERT_TRUE(r);
  const auto& got = (*r)[0].ids;
  ASSERT_GE(got.size(), 6u);
  EXPECT_EQ(got[0], ids[0]);
  EXPECT_EQ(got[1], ids[1]);
  for (int i = 0; i < 5; ++i) EXPECT_NE(got[static_cast<std::size_t>(i)], ids[2]);
  // Stop strings also wait for min tokens.
  GeneratorOptions go;
  go.tokenizer = tok.get();
  JobSettings s = greedy_job(prompt, 12);
  auto first = tok->decode(std::span<const std::int32_t>(ids.data(), 1), false);
  s.stop_strings = {*first};
  r = generate_all(*m, {s}, go);
  EXPECT_EQ((*r)[0].ids.size(), 1u);
  s.min_new_tokens = 4;
  r = generate_all(*m, {s}, go);
  EXPECT_GE((*r)[0].ids.size(), 4u);
}

bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + static_cast<std::size_t>(n) > s.size()) return false;
    for (int k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) >> 6) != 2) return false;
    i += static_cast<std::size_t>(n);
  }
  return true;
}

TEST(Generator, StreamedDeltasNeverSplitACharacter) {
  auto tok = tokenizer();
  auto m = load();
  ASSERT_TRUE(tok && m);
  GeneratorOptions go;
  go.tokenizer = tok.get();
  std::string p;
  for (int i = 0; i < 8; ++i) p += "日本語 café ";
  JobSettings j = greedy_job(encode(*tok, p), 30);
  j.stop_at_model_eos = false;
  // Only the byte-level pieces of these characters may be sampled (each is 2-3 tokens).
  const auto pieces = encode(*tok, "日本語 é");
  for (std::int32_t id = 0; id < m->vocab_size(); ++id)
    if (std::find(pieces.begin(), pieces.end(), id) == pieces.end()) j.sampler.banned_ids.push_back(id);
  std::vector<std::string> deltas;
  j.on_update = [&](const JobUpdate& u) {
    deltas.push_back(u.text);
    return true;
  };
  auto r = generate_all(*m, {j}, go);
  ASSERT_TRUE(r);
  const auto& ids = (*r)[0].ids;
  // Precondition: some generated token is only part of a character (decoded alone: U+FFFD).
  int partial = 0;
  for (auto id : ids)
    partial += tok->decode(std::span<const std::int32_t>(&id, 1), false)->find("\xEF\xBF\xBD") != std::string::npos;
  ASSERT_GT(partial, 0);
  std::string joined;
  int empty = 0;
  for (const auto& d : deltas) {
    EXPECT_TRUE(valid_utf8(d)) << d;
    empty += d.empty();
    joined += d;
  }
  EXPECT_GT(empty, 0);  // a token that ended mid-character produced no text yet
  EXPECT_EQ(joined, *tok->decode(ids, false));
  EXPECT_NE(joined.find("\xC3\xA9"), std::string::npos);  // é
}

TEST(Generator, CancelEndsOneJobOnly) {
  auto tok = tokenizer();
  auto m = load();
  ASSERT_TRUE(tok && m);
  auto gen = Generator::create(*m);
  ASSERT_TRUE(gen);
  const auto a = encode(*tok, kPrompts[0]), b = encode(*tok, kPrompts[1]);
  auto ja = greedy_job(a, 20), jb = greedy_job(b, 20);
  ja.stop_at_model_eos = jb.stop_at_model_eos = false;
  int b_updates = 0;
  jb.on_update = [&](const JobUpdate& u) { return ++b_updates < 3 || u.finished; };  // stops itself after 3
  auto ida = (*gen)->submit(ja), idb = (*gen)->submit(jb);
  auto idc = (*gen)->submit(greedy_job(a, 20));
  ASSERT_TRUE(ida && idb && idc);
  ASSERT_TRUE((*gen)->step());
  (*gen)->cancel(*idc);
  ASSERT_TRUE((*gen)->run_until_idle());
  auto ra = (*gen)->take_result(*ida), rb = (*gen)->take_result(*idb), rc = (*gen)->take_result(*idc);
  ASSERT_TRUE(ra && rb && rc);
  EXPECT_EQ(ra->reason, StopReason::length);
  EXPECT_EQ(ra->ids, alone(*load(), a, 20, false));
  EXPECT_EQ(rb->reason, StopReason::cancelled);
  EXPECT_EQ(rb->ids.size(), 3u);
  EXPECT_EQ(rc->reason, StopReason::cancelled);
  EXPECT_LE(rc->ids.size(), 1u);
  EXPECT_EQ((*gen)->jobs_pending(), 0);
  EXPECT_EQ((*gen)->cache_stats().pages_in_use, 0);
}

TEST(Generator, FullCacheQueuesAndPreemptsWithoutChangingTokens) {
  auto tok = tokenizer();
  auto m = load(16, 64, 160);  // 10 pages of 16 tokens for 6 jobs of ~40 + 40 tokens
  auto ref = load();
  ASSERT_TRUE(tok && m && ref);
  std::vector<JobSettings> jobs;
  std::vector<std::vector<std::int32_t>> want;
  for (int i = 0; i < 6; ++i) {
    auto p = encode(*tok, std::string(kPrompts[i]) + " " + kPrompts[i + 6] + " " + kPrompts[i + 1]);
    auto j = greedy_job(p, 40);
    j.stop_at_model_eos = false;
    want.push_back(alone(*ref, p, 40, false));
    jobs.push_back(j);
  }
  GeneratorOptions go;
  go.tokenizer = tok.get();
  auto gen = Generator::create(*m, go);
  ASSERT_TRUE(gen);
  std::vector<std::uint64_t> ids;
  for (auto& j : jobs) ids.push_back(*(*gen)->submit(j));
  ASSERT_TRUE((*gen)->run_until_idle());
  int preemptions = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = (*gen)->take_result(ids[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reason, StopReason::length) << (r->error ? r->error->to_string() : "");
    EXPECT_EQ(r->ids, want[static_cast<std::size_t>(i)]) << "job " << i;
    preemptions += r->timings.preemptions;
  }
  EXPECT_GT(preemptions, 0);
  // A prompt larger than the whole cache is refused at submit.
  std::vector<std::int32_t> huge(200, 100);
  auto bad = (*gen)->submit(greedy_job(huge, 4));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::invalid_argument);
}

TEST(Generator, SpeculativeGreedyEqualsPlainGreedy) {
  auto tok = tokenizer();
  auto m = load(16, 128);
  auto draft = load(16, 128);
  ASSERT_TRUE(tok && m && draft);
  std::string text;
  for (int i = 0; i < 6; ++i) text += "one two three four five six seven. ";
  const auto prompt = encode(*tok, text);
  std::vector<JobSettings> jobs;
  for (int i = 0; i < 3; ++i) {
    auto j = greedy_job(i == 2 ? encode(*tok, kPrompts[3]) : prompt, 40);
    j.stop_at_model_eos = false;
    jobs.push_back(j);
  }
  auto plain = generate_all(*m, jobs);
  ASSERT_TRUE(plain);
  for (DraftMode mode : {DraftMode::ngram, DraftMode::model}) {
    auto spec = jobs;
    for (auto& j : spec) {
      j.draft = mode;
      j.draft_tokens = 4;
    }
    GeneratorOptions go;
    go.tokenizer = tok.get();
    go.draft_model = draft.get();
    go.draft_tokenizer = tok.get();
    auto r = generate_all(*m, spec, go);
    ASSERT_TRUE(r) << r.error().to_string();
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      EXPECT_EQ((*r)[i].ids, (*plain)[i].ids) << "mode " << static_cast<int>(mode) << " job " << i;
      EXPECT_GT((*r)[i].timings.draft_proposed, 0);
    }
    // The same model as its own draft accepts everything.
    if (mode == DraftMode::model) EXPECT_DOUBLE_EQ((*r)[0].timings.draft_acceptance(), 1.0);
    else EXPECT_GT((*r)[0].timings.draft_accepted, 0);
  }
  // Steps of 8 tokens: three drafting jobs do not all fit, so proposals are cut (and the draft's
  // cache must forget what was not verified).
  auto small = load(16, 8), small_draft = load(16, 8);
  ASSERT_TRUE(small && small_draft);
  std::vector<JobSettings> short_jobs;
  for (int i = 0; i < 4; ++i) {  // 2-token prompts: all four prefill in one step, then decode together
    auto p = encode(*tok, kPrompts[i]);
    p.resize(2);
    auto j = greedy_job(p, 30);
    j.stop_at_model_eos = false;
    short_jobs.push_back(j);
  }
  auto short_plain = generate_all(*small, short_jobs);
  ASSERT_TRUE(short_plain);
  for (auto& j : short_jobs) {
    j.draft = DraftMode::model;
    j.draft_tokens = 4;
  }
  GeneratorOptions go;
  go.draft_model = small_draft.get();
  auto r = generate_all(*small, short_jobs, go);
  ASSERT_TRUE(r) << r.error().to_string();
  for (std::size_t i = 0; i < short_jobs.size(); ++i) {
    EXPECT_EQ((*r)[i].ids, (*short_plain)[i].ids) << "small steps, job " << i;
    // Drafting stays on and exact for every job (a draft cache out of step would propose junk).
    EXPECT_DOUBLE_EQ((*r)[i].timings.draft_acceptance(), 1.0) << "job " << i;
    EXPECT_GE((*r)[i].timings.draft_proposed, 10) << "job " << i;
  }
}

TEST(Generator, SpeculativeSamplingKeepsTheDistribution) {
  // The draft is the 4-bit EXL2 quantization of the same model: close to the target but not equal,
  // so both the acceptance and the residual paths run. (n-gram drafts are checked on the
  // verification rule itself in test_speculative.cpp.)
  auto tok = tokenizer();
  auto m = load(16, 256);
  LoadOptions dopt;
  dopt.page_size = 16;
  dopt.max_batch_tokens = 256;
  auto draft = Model::load(std::string(NIBBLE_TEST_DATA_DIR) + "/models/dictlm-16m-exl2-4.0", dopt);
  ASSERT_TRUE(tok && m && draft);
  const auto prompt = encode(*tok, "The meaning of the word apple is");
#ifdef __SANITIZE_ADDRESS__
  // Under AddressSanitizer the run is ~10x slower: the sanitizer stage exercises both paths on fewer
  // samples for memory errors; the distribution check below runs in the plain build.
  constexpr int N = 120;
  constexpr bool kCheckDistribution = false;
#else
  constexpr int N = 600;
  constexpr bool kCheckDistribution = true;
#endif
  auto histogram = [&](DraftMode mode) {
    std::vector<JobSettings> jobs;
    for (int s = 0; s < N; ++s) {
      auto j = greedy_job(prompt, 3);
      j.stop_at_model_eos = false;
      j.sampler.temperature = 1.5f;
      j.sampler.top_k = 4;
      j.seed = static_cast<std::uint64_t>(s) + (mode == DraftMode::none ? 0 : 1000000);
      j.draft = mode;
      j.draft_tokens = 3;
      jobs.push_back(j);
    }
    std::map<std::vector<std::int32_t>, int> h;
    int accepted = 0;
    GeneratorOptions go;
    go.draft_model = draft->get();
    auto r = generate_all(*m, jobs, go);
    EXPECT_TRUE(r);
    if (r)
      for (const auto& x : *r) {
        ++h[{x.ids.begin(), x.ids.begin() + 2}];
        accepted += x.timings.draft_accepted;
      }
    return std::make_pair(h, accepted);
  };
  auto [plain, a0] = histogram(DraftMode::none);
  auto [spec, accepted] = histogram(DraftMode::model);
  EXPECT_GT(accepted, N / 4);  // the draft path was exercised
  if (!kCheckDistribution) return;
  // Two-sample chi-square over (first, second) token pairs; rare pairs pooled.
  std::map<std::vector<std::int32_t>, std::pair<int, int>> bins;
  for (auto& [k, v] : plain) bins[k].first += v;
  for (auto& [k, v] : spec) bins[k].second += v;
  double chi = 0;
  int dof = -1, pool_a = 0, pool_b = 0;
  for (auto& [k, v] : bins) {
    if (v.first + v.second < 20) {
      pool_a += v.first;
      pool_b += v.second;
      continue;
    }
    chi += static_cast<double>(v.first - v.second) * (v.first - v.second) / (v.first + v.second);
    ++dof;
  }
  if (pool_a + pool_b > 0) {
    chi += static_cast<double>(pool_a - pool_b) * (pool_a - pool_b) / (pool_a + pool_b);
    ++dof;
  }
  ASSERT_GT(dof, 2);
  // p = 0.001 critical value, Wilson-Hilferty approximation.
  const double z = 3.09, k = dof;
  const double crit = k * std::pow(1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k)), 3);
  EXPECT_LT(chi, crit) << "dof " << dof;
}

TEST(Generator, DraftWithAnotherVocabularyIsRefused) {
  auto m = load();
  ASSERT_TRUE(m);
  test::TempDir dir;
  test::TinyModel tiny;  // 128-token vocabulary
  tiny.write(dir.path());
  auto other = Model::load(dir.path());
  ASSERT_TRUE(other) << other.error().to_string();
  GeneratorOptions go;
  go.draft_model = other->get();
  auto refused = Generator::create(*m, go);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(refused.error().message.find("vocabulary of 128"), std::string::npos) << refused.error().message;
  auto same = load();
  go.draft_model = same.get();
  EXPECT_TRUE(Generator::create(*m, go));
  go.draft_model = m.get();  // the model itself: no separate cache
  EXPECT_FALSE(Generator::create(*m, go));
  // A job asking for a draft model without one is refused at submit.
  auto gen = Generator::create(*m);
  JobSettings j = greedy_job({1, 2, 3}, 4);
  j.draft = DraftMode::model;
  EXPECT_FALSE((*gen)->submit(j));
}

// A model that "samples on the device" on the host: forward() of the CPU model, then the CPU
// sampler's rule with the seed and step it is handed. Steps the Generator sends to forward_sample
// must then give exactly the tokens of host sampling: the right settings, seeds and draw steps per
// job, the random stream advanced the same way, fallbacks (min-tokens suppression) mid-job.
class HostSamplingModel final : public Model {
 public:
  HostSamplingModel(Model& inner, bool supported) : inner_(inner), supported_(supported) {}
  const ModelInfo& info() const override { return inner_.info(); }
  int vocab_size() const override { return inner_.vocab_size(); }
  int max_batch_tokens() const override { return inner_.max_batch_tokens(); }
  int page_size() const override { return inner_.page_size(); }
  const std::vector<int>& stop_ids() const override { return inner_.stop_ids(); }
  int pages_total() const override { return inner_.pages_total(); }
  int pages_free() const override { return inner_.pages_free(); }
  Result<std::vector<std::int32_t>> allocate_pages(int count) override { return inner_.allocate_pages(count); }
  void free_pages(std::span<const std::int32_t> pages) override { inner_.free_pages(pages); }
  Status forward(std::span<const ForwardSeq> seqs, std::vector<float>& logits) override {
    return inner_.forward(seqs, logits);
  }
  std::unique_ptr<Sequence> new_sequence() override { return inner_.new_sequence(); }
  Status forward_sample(std::span<const ForwardSeq> seqs, std::span<const DeviceSampling> sampling,
                        std::vector<std::int32_t>& ids) override {
    if (!supported_) return Model::forward_sample(seqs, sampling, ids);
    ++calls;
    NIBBLE_TRY(inner_.forward(seqs, logits_));
    const std::size_t V = static_cast<std::size_t>(vocab_size());
    ids.resize(seqs.size());
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      SamplerSettings s;
      s.temperature = sampling[i].temperature;
      s.top_k = sampling[i].top_k;
      s.top_p = sampling[i].top_p;
      s.min_p = sampling[i].min_p;
      SamplerRng rng(sampling[i].seed);
      for (std::uint64_t k = 0; k < sampling[i].step; ++k) rng.take_step();
      ids[i] = sampler_.sample(std::span<const float>(logits_.data() + i * V, V), s, {}, rng);
    }
    return {};
  }
  int calls = 0;

 private:
  Model& inner_;
  bool supported_;
  Sampler sampler_;
  std::vector<float> logits_;
};

TEST(Generator, DeviceSamplingStepsGiveTheHostSamplersTokens) {
  auto tok = tokenizer();
  auto m = load(16, 64);
  ASSERT_TRUE(tok && m);
  auto jobs = [&] {
    std::vector<JobSettings> v;
    for (int i = 0; i < 6; ++i) {
      JobSettings j = greedy_job(encode(*tok, kPrompts[i]), 20);
      j.stop_at_model_eos = false;
      j.seed = 7 + static_cast<std::uint64_t>(i);
      if (i >= 2) {
        j.sampler.temperature = 0.7f + 0.2f * static_cast<float>(i % 2);
        j.sampler.top_k = i == 3 ? 20 : 0;
        j.sampler.top_p = i == 4 ? 0.9f : 1.0f;
        j.sampler.min_p = i == 5 ? 0.05f : 0.0f;
      }
      if (i == 5) {  // stop ids suppressed for the first 5 tokens: those steps go to the host
        j.min_new_tokens = 5;
        j.stop_ids = {static_cast<std::int32_t>(tok->vocab_size() - 1)};
      }
      v.push_back(j);
    }
    return v;
  };
  GeneratorOptions go;
  go.tokenizer = tok.get();
  auto host = generate_all(*m, jobs(), go);
  ASSERT_TRUE(host) << host.error().to_string();
  HostSamplingModel dev(*m, true), none(*m, false);
  auto a = generate_all(dev, jobs(), go);
  ASSERT_TRUE(a) << a.error().to_string();
  auto b = generate_all(none, jobs(), go);
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_GT(dev.calls, 10);  // decode steps after the suppression ran through forward_sample
  for (std::size_t i = 0; i < host->size(); ++i) {
    EXPECT_EQ((*a)[i].ids, (*host)[i].ids) << "job " << i;
    EXPECT_EQ((*b)[i].ids, (*host)[i].ids) << "job " << i << " (forward_sample unsupported)";
    EXPECT_EQ((*host)[i].ids.size(), 20u) << "job " << i;
  }
  // The checker can fail: sampled and greedy continuations of one prompt differ.
  auto greedy2 = generate_all(*m, {greedy_job(encode(*tok, kPrompts[2]), 20)}, go);
  ASSERT_TRUE(greedy2);
  EXPECT_NE((*greedy2)[0].ids, (*host)[2].ids);
}

}  // namespace
}  // namespace nibble
