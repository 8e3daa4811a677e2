// The Generator: job queue, admission, step building (decode first, then prefill chunks in
// admission order), page growth with preemption, sampling, speculative verification, stop
// handling and streaming. Runs entirely on the thread that calls step(); submit() and cancel()
// hand work over through a mutex-guarded inbox.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "nibble/runtime.h"
#include "nibble/tokenizer.h"
#include "runtime/prefix_cache.h"
#include "runtime/speculative.h"
#include "runtime/stop_text.h"

namespace nibble {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::none: return "none";
    case StopReason::eos: return "eos";
    case StopReason::stop_string: return "stop_string";
    case StopReason::length: return "length";
    case StopReason::cancelled: return "cancelled";
    case StopReason::error: return "error";
  }
  return "none";
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct DraftState {
  std::vector<std::int32_t> pages;  // in the draft model's pool
  int kv_len = 0;
  bool failed = false;              // no pages: the job decodes without a draft from now on
};

struct Job {
  std::uint64_t id = 0;
  JobSettings s;
  std::vector<std::int32_t> tokens;  // prompt + generated
  int prompt_len = 0;
  int kv_len = 0;                    // leading positions whose KV is in `pages`
  std::vector<std::int32_t> pages;   // block table
  std::vector<std::uint64_t> hashes; // chain hash of each full page in `pages` seen so far
  bool admitted = false;
  std::uint64_t admit_order = 0;
  SamplerRng rng;
  std::unique_ptr<StreamingDetokenizer> detok;
  StopText stop_text;
  std::vector<std::int32_t> stop_ids;
  std::vector<std::int32_t> new_ids;  // since the last update
  std::string new_text;
  JobResult result;
  Clock::time_point t_submit, t_first_step, t_first_token, t_last_token;
  bool started = false;
  bool cancel_requested = false;
  bool final_sent = false;
  DraftState draft;
  std::vector<std::int32_t> proposal;   // this step's draft tokens
  std::vector<float> proposal_q;        // [proposal.size()][V] draft distributions (model drafts, sampling)
  int feed = 0;                         // tokens fed this step (before drafts)

  int generated() const { return static_cast<int>(tokens.size()) - prompt_len; }
  bool finished() const { return result.reason != StopReason::none; }
};

class GeneratorImpl final : public Generator {
 public:
  GeneratorImpl(Model& model, const GeneratorOptions& o)
      : model_(model), opts_(o), cache_(model, o.prefix_cache), vocab_(model.vocab_size()) {}

  ~GeneratorImpl() override {
    for (auto& j : running_) release_job(*j);
    for (auto& j : queue_) release_job(*j);
  }

  Result<std::uint64_t> submit(JobSettings s) override;
  void cancel(std::uint64_t job) override {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    cancels_.insert(job);
  }
  Result<bool> step() override;
  Status run_until_idle() override {
    while (true) {
      NIBBLE_ASSIGN_OR_RETURN(bool did, step());
      if (!did && jobs_pending() == 0) return {};
    }
  }
  std::optional<JobResult> take_result(std::uint64_t job) override {
    auto it = results_.find(job);
    if (it == results_.end()) return std::nullopt;
    JobResult r = std::move(it->second);
    results_.erase(it);
    return r;
  }
  int jobs_pending() const override { return pending_.load(); }
  CacheStats cache_stats() const override { return cache_.stats(); }
  StepStats step_stats() const override { return stats_; }
  void clear_prefix_cache() override { cache_.clear(); }

 private:
  void drain_inbox();
  void admit();
  Status grow_pages(Job& j, int positions);
  void preempt(Job& j);
  void release_job(Job& j);
  void publish_pages(Job& j);
  void finish(Job& j, StopReason reason, std::optional<Error> error = std::nullopt);
  void accept_token(Job& j, std::int32_t id);
  void emit(Job& j);
  void store_result(Job& j) {
    results_[j.id] = std::move(j.result);
    --pending_;
  }
  void propose_drafts(std::vector<Job*>& decoding);
  Status draft_forward(Job& j, std::span<const std::int32_t> ids, std::vector<float>& last_logits);
  // Whether the device's sampler covers the job's settings this step (nibble/model.h
  // DeviceSampling: greedy, temperature, top-k, top-p, min-p; nothing that edits logits first).
  static bool device_covers(const Job& j) {
    const SamplerSettings& s = j.s.sampler;
    const bool suppress = j.generated() < j.s.min_new_tokens && !j.stop_ids.empty();
    return !suppress && !s.edits_logits() && s.typical_p >= 1.0f && s.xtc_probability <= 0.0f;
  }

  SamplerContext context(const Job& j) const {
    SamplerContext c;
    c.tokens = j.tokens;
    c.prompt_tokens = j.prompt_len;
    if (j.generated() < j.s.min_new_tokens) c.suppress_ids = j.stop_ids;
    return c;
  }

  Model& model_;
  GeneratorOptions opts_;
  PageCache cache_;
  int vocab_;
  Sampler sampler_;
  std::uint64_t next_id_ = 1, next_admit_ = 1;

  std::atomic<int> pending_{0};  // submitted and not yet finished
  StepStats stats_;
  bool device_sampling_ = true;  // until the model says it cannot
  std::vector<DeviceSampling> device_sampling_settings_;
  std::vector<std::int32_t> device_ids_;
  mutable std::mutex inbox_mutex_;
  std::vector<std::unique_ptr<Job>> inbox_;
  std::set<std::uint64_t> cancels_;

  std::deque<std::unique_ptr<Job>> queue_;     // waiting for admission, FIFO (preempted jobs go first)
  std::vector<std::unique_ptr<Job>> running_;  // in admission order
  std::map<std::uint64_t, JobResult> results_;
  std::vector<float> logits_, probs_, draft_logits_;
};

Result<std::uint64_t> GeneratorImpl::submit(JobSettings s) {
  auto bad = [](auto&&... parts) { return make_error(ErrorKind::invalid_argument, "job: ", parts...); };
  if (s.prompt.empty()) return bad("the prompt is empty");
  for (auto t : s.prompt)
    if (t < 0 || t >= vocab_) return bad("prompt token id ", t, " is outside the vocabulary (", vocab_, ")");
  if (s.max_new_tokens < 0 || s.min_new_tokens < 0) return bad("max_new_tokens and min_new_tokens must be >= 0");
  const std::int64_t capacity = static_cast<std::int64_t>(model_.pages_total()) * model_.page_size();
  if (static_cast<std::int64_t>(s.prompt.size()) + 1 > capacity)
    return bad("the prompt has ", s.prompt.size(), " tokens; the KV cache holds ", capacity,
               " (load the model with a larger context)");
  const int max_pos = model_.info().context_length;
  if (max_pos > 0 && static_cast<int>(s.prompt.size()) >= max_pos)
    return bad("the prompt has ", s.prompt.size(), " tokens; the model's context is ", max_pos);
  NIBBLE_TRY(s.sampler.validate(vocab_));
  for (auto id : s.stop_ids)
    if (id < 0 || id >= vocab_) return bad("stop id ", id, " is outside the vocabulary (", vocab_, ")");
  if (!s.stop_strings.empty() && !opts_.tokenizer) return bad("stop strings need a tokenizer");
  if (s.draft == DraftMode::model && !opts_.draft_model) return bad("draft mode 'model' needs a draft model");
  if (s.draft != DraftMode::none && (s.draft_tokens < 1 || s.draft_tokens > 64)) return bad("draft_tokens must be in [1, 64]");
  if (s.draft == DraftMode::ngram && (s.ngram_min < 1 || s.ngram_max < s.ngram_min))
    return bad("n-gram sizes need 1 <= ngram_min <= ngram_max");
  if (s.draft_tokens + 1 > model_.max_batch_tokens()) s.draft_tokens = model_.max_batch_tokens() - 1;
  if (s.draft_tokens < 1) s.draft = DraftMode::none;

  auto j = std::make_unique<Job>();
  j->s = std::move(s);
  j->tokens = j->s.prompt;
  j->prompt_len = static_cast<int>(j->tokens.size());
  j->rng = SamplerRng(j->s.seed);
  if (opts_.tokenizer) j->detok = opts_.tokenizer->make_stream(false);
  j->stop_text = StopText(j->s.stop_strings, j->s.include_stop_string);
  j->stop_ids = j->s.stop_ids;
  if (j->s.stop_at_model_eos) j->stop_ids.insert(j->stop_ids.end(), model_.stop_ids().begin(), model_.stop_ids().end());
  j->t_submit = Clock::now();
  j->result.timings.prompt_tokens = j->prompt_len;
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  j->id = next_id_++;
  j->result.job = j->id;
  const auto id = j->id;
  inbox_.push_back(std::move(j));
  ++pending_;
  return id;
}

void GeneratorImpl::drain_inbox() {
  std::vector<std::unique_ptr<Job>> in;
  std::set<std::uint64_t> cancels;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    in.swap(inbox_);
    cancels.swap(cancels_);
  }
  for (auto& j : in) queue_.push_back(std::move(j));
  if (cancels.empty()) return;
  for (auto& j : queue_)
    if (cancels.count(j->id)) j->cancel_requested = true;
  for (auto& j : running_)
    if (cancels.count(j->id)) j->cancel_requested = true;
}

void GeneratorImpl::release_job(Job& j) {
  publish_pages(j);
  cache_.release(j.pages);
  j.pages.clear();
  j.hashes.clear();
  j.kv_len = 0;
  if (opts_.draft_model && !j.draft.pages.empty()) opts_.draft_model->free_pages(j.draft.pages);
  j.draft = DraftState{};
}

void GeneratorImpl::publish_pages(Job& j) {
  if (!j.s.reuse_prefix) return;
  const int ps = cache_.page_size();
  const int full = std::min<int>(j.kv_len / ps, static_cast<int>(j.pages.size()));
  while (static_cast<int>(j.hashes.size()) < full) {
    const std::size_t n = j.hashes.size();
    const auto part = std::span<const std::int32_t>(j.tokens).subspan(n * ps, static_cast<std::size_t>(ps));
    const std::uint64_t parent = n == 0 ? 0 : j.hashes[n - 1];
    const std::uint64_t h = page_hash(parent, part);
    cache_.publish(j.pages[n], h, parent, part);
    j.hashes.push_back(h);
  }
}

void GeneratorImpl::preempt(Job& j) {
  release_job(j);
  j.admitted = false;
  ++j.result.timings.preemptions;
}

// Admits queued jobs in order while their whole context (plus one position) fits; the head of
// the queue is never skipped for a smaller job behind it.
void GeneratorImpl::admit() {
  const int ps = cache_.page_size();
  // No more jobs than one step can carry a token for: every running job decodes at every step.
  const int max_running = std::min(opts_.max_jobs, model_.max_batch_tokens());
  while (!queue_.empty() && static_cast<int>(running_.size()) < max_running) {
    Job& j = *queue_.front();
    if (j.cancel_requested) {
      finish(j, StopReason::cancelled);
      emit(j);
      store_result(j);
      queue_.pop_front();
      continue;
    }
    const int n = static_cast<int>(j.tokens.size());
    const int need_total = (n + 1 + ps - 1) / ps;
    int unreferenced = 0;
    const int reusable = j.s.reuse_prefix ? cache_.count_prefix(j.tokens, (n - 1) / ps, &unreferenced) : 0;
    // Reused pages taken out of the LRU are no longer available for the fresh ones.
    if (need_total - reusable > cache_.available() - unreferenced) {
      if (running_.empty()) {
        // Nothing will free up: the cache is too small for this job now (other users hold pages).
        finish(j, StopReason::error, make_error(ErrorKind::out_of_memory, "KV cache full: the job needs ", need_total,
                                                " pages and ", cache_.available(), " can be had (load with a larger context)"));
        emit(j);
        store_result(j);
        queue_.pop_front();
        continue;
      }
      return;
    }
    std::vector<std::uint64_t> hashes;
    j.pages = j.s.reuse_prefix ? cache_.acquire_prefix(j.tokens, (n - 1) / ps, hashes) : std::vector<std::int32_t>{};
    j.hashes = hashes;
    const int reused = static_cast<int>(j.pages.size());
    auto more = cache_.allocate(need_total - reused);
    if (!more) {  // cannot happen after the check above; keep the job queued
      cache_.release(j.pages);
      j.pages.clear();
      j.hashes.clear();
      return;
    }
    j.pages.insert(j.pages.end(), more->begin(), more->end());
    j.kv_len = reused * ps;
    if (!j.started) j.result.timings.cached_tokens = std::min(j.kv_len, j.prompt_len);
    j.admitted = true;
    j.admit_order = next_admit_++;
    running_.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

Status GeneratorImpl::grow_pages(Job& j, int positions) {
  const int ps = cache_.page_size();
  const int need = (positions + ps - 1) / ps - static_cast<int>(j.pages.size());
  if (need <= 0) return {};
  NIBBLE_ASSIGN_OR_RETURN(auto more, cache_.allocate(need));
  j.pages.insert(j.pages.end(), more.begin(), more.end());
  return {};
}

void GeneratorImpl::finish(Job& j, StopReason reason, std::optional<Error> error) {
  if (j.finished()) return;
  j.result.reason = reason;
  j.result.error = std::move(error);
  std::string tail = j.detok ? j.detok->flush() : std::string();
  if (reason != StopReason::stop_string) {
    j.new_text += j.stop_text.flush();
    j.new_text += tail;
  }
  JobTimings& t = j.result.timings;
  t.generated_tokens = j.generated();
  if (t.generated_tokens > 0) t.decode_s = seconds(j.t_first_token, j.t_last_token);
}

void GeneratorImpl::accept_token(Job& j, std::int32_t id) {
  const auto now = Clock::now();
  if (j.generated() == 0) {
    j.t_first_token = now;
    j.result.timings.ttft_s = seconds(j.t_submit, now);
    j.result.timings.prefill_s = seconds(j.t_first_step, now);
  }
  j.t_last_token = now;
  j.tokens.push_back(id);
  j.new_ids.push_back(id);
  j.result.ids.push_back(id);
  const int g = j.generated();
  if (std::find(j.stop_ids.begin(), j.stop_ids.end(), id) != j.stop_ids.end() && g > j.s.min_new_tokens) {
    finish(j, StopReason::eos);
    return;
  }
  if (j.detok) {
    bool matched = false;
    j.new_text += j.stop_text.push(j.detok->push(id), g >= j.s.min_new_tokens, matched);
    if (matched) {
      finish(j, StopReason::stop_string);
      return;
    }
  }
  const int max_pos = model_.info().context_length;
  if (g >= j.s.max_new_tokens || (max_pos > 0 && static_cast<int>(j.tokens.size()) >= max_pos)) finish(j, StopReason::length);
}

void GeneratorImpl::emit(Job& j) {
  if (j.final_sent || (j.new_ids.empty() && j.new_text.empty() && !j.finished())) return;
  j.final_sent = j.finished();
  j.result.text += j.new_text;
  j.result.timings.generated_tokens = j.generated();
  if (j.s.on_update) {
    JobUpdate u;
    u.job = j.id;
    u.text = std::move(j.new_text);
    u.ids = std::move(j.new_ids);
    u.finished = j.finished();
    u.reason = j.result.reason;
    u.timings = j.result.timings;
    u.error = j.result.error;
    if (!j.s.on_update(u) && !j.finished()) j.cancel_requested = true;
  }
  j.new_text.clear();
  j.new_ids.clear();
}

Status GeneratorImpl::draft_forward(Job& j, std::span<const std::int32_t> ids, std::vector<float>& last_logits) {
  Model& dm = *opts_.draft_model;
  const int ps = dm.page_size();
  const std::size_t chunk = static_cast<std::size_t>(dm.max_batch_tokens());
  for (std::size_t at = 0; at < ids.size(); at += chunk) {
    const auto part = ids.subspan(at, std::min(chunk, ids.size() - at));
    const int need = (j.draft.kv_len + static_cast<int>(part.size()) + ps - 1) / ps - static_cast<int>(j.draft.pages.size());
    if (need > 0) {
      NIBBLE_ASSIGN_OR_RETURN(auto more, dm.allocate_pages(need));
      j.draft.pages.insert(j.draft.pages.end(), more.begin(), more.end());
    }
    ForwardSeq fs{part, j.draft.kv_len, j.draft.pages, false};
    NIBBLE_TRY(dm.forward(std::span<const ForwardSeq>(&fs, 1), last_logits));
    j.draft.kv_len += static_cast<int>(part.size());
  }
  return {};
}

// Fills each decoding job's proposal: n-gram lookup, or k draft-model steps (the first catches
// the draft's cache up with the context; the rest are batched over all drafting jobs).
void GeneratorImpl::propose_drafts(std::vector<Job*>& decoding) {
  std::vector<Job*> model_jobs;
  const int max_pos = model_.info().context_length;
  for (Job* j : decoding) {
    j->proposal.clear();
    j->proposal_q.clear();
    if (j->s.draft == DraftMode::none) continue;
    int k = std::min(j->s.draft_tokens, j->s.max_new_tokens - j->generated() - 1);
    if (max_pos > 0) k = std::min(k, max_pos - static_cast<int>(j->tokens.size()) - 1);
    if (k <= 0) continue;
    if (j->s.draft == DraftMode::ngram) {
      j->proposal = ngram_propose(j->tokens, j->s.ngram_min, j->s.ngram_max, k);
    } else if (!j->draft.failed) {
      model_jobs.push_back(j);
    }
  }
  if (model_jobs.empty()) return;
  const int V = vocab_;
  std::vector<std::int32_t> ctx;
  auto take = [&](Job& j, std::span<const float> row) {
    ctx.assign(j.tokens.begin(), j.tokens.end());
    ctx.insert(ctx.end(), j.proposal.begin(), j.proposal.end());
    SamplerContext c;
    c.tokens = ctx;
    c.prompt_tokens = j.prompt_len;
    if (j.generated() + static_cast<int>(j.proposal.size()) < j.s.min_new_tokens) c.suppress_ids = j.stop_ids;
    sampler_.probabilities(row, j.s.sampler, c, j.rng, probs_);
    std::int32_t d;
    if (j.s.sampler.greedy()) {
      d = static_cast<std::int32_t>(std::max_element(probs_.begin(), probs_.end()) - probs_.begin());
    } else {
      d = Sampler::draw(probs_, j.rng.uniform());
      j.proposal_q.insert(j.proposal_q.end(), probs_.begin(), probs_.end());
    }
    j.proposal.push_back(d);
  };
  // Step 0: catch-up per job (its prompt on the first step, a few tokens later).
  std::vector<Job*> active;
  for (Job* j : model_jobs) {
    const auto pending = std::span<const std::int32_t>(j->tokens).subspan(static_cast<std::size_t>(j->draft.kv_len));
    if (pending.empty() || !draft_forward(*j, pending, draft_logits_)) {
      j->draft.failed = true;  // no room in the draft's cache: decode without drafts
      continue;
    }
    take(*j, std::span<const float>(draft_logits_.data(), static_cast<std::size_t>(V)));
    active.push_back(j);
  }
  // Steps 1..k-1: one token per job per step.
  Model& dm = *opts_.draft_model;
  for (int it = 1;; ++it) {
    std::vector<Job*> next;
    for (Job* j : active) {
      const int k = std::min(j->s.draft_tokens, j->s.max_new_tokens - j->generated() - 1);
      if (static_cast<int>(j->proposal.size()) >= k) continue;
      const int ps = dm.page_size();
      const int need = (j->draft.kv_len + 1 + ps - 1) / ps - static_cast<int>(j->draft.pages.size());
      if (need > 0) {
        auto more = dm.allocate_pages(need);
        if (!more) continue;
        j->draft.pages.insert(j->draft.pages.end(), more->begin(), more->end());
      }
      next.push_back(j);
      if (static_cast<int>(next.size()) >= dm.max_batch_tokens()) break;
    }
    if (next.empty()) break;
    std::vector<ForwardSeq> seqs;
    for (Job* j : next) seqs.push_back({std::span<const std::int32_t>(&j->proposal.back(), 1), j->draft.kv_len, j->draft.pages, false});
    if (!dm.forward(seqs, draft_logits_)) {
      for (Job* j : next) j->draft.failed = true;
      break;
    }
    for (std::size_t i = 0; i < next.size(); ++i) {
      next[i]->draft.kv_len += 1;
      take(*next[i], std::span<const float>(draft_logits_.data() + i * static_cast<std::size_t>(V), static_cast<std::size_t>(V)));
    }
    active = next;
  }
}

Result<bool> GeneratorImpl::step() {
  const auto t_step = Clock::now();
  drain_inbox();
  // Cancellations and jobs whose callback asked to stop.
  for (auto& j : running_)
    if (j->cancel_requested && !j->finished()) {
      finish(*j, StopReason::cancelled);
      emit(*j);
    }
  auto retire = [&]() {
    for (auto it = running_.begin(); it != running_.end();) {
      if ((*it)->finished()) {
        release_job(**it);
        store_result(**it);
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
  };
  retire();
  for (auto it = queue_.begin(); it != queue_.end();) {  // queued jobs cancelled anywhere in the queue
    if ((*it)->cancel_requested) {
      finish(**it, StopReason::cancelled);
      emit(**it);
      store_result(**it);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  admit();
  for (auto& j : running_)
    if (j->s.max_new_tokens == 0) {
      finish(*j, StopReason::length);
      emit(*j);
    }
  retire();
  if (running_.empty()) return !queue_.empty();

  // Decode jobs first (one token each plus drafts), then prompt chunks in admission order.
  int budget = model_.max_batch_tokens();
  const int chunk_cap = opts_.prefill_chunk > 0 ? opts_.prefill_chunk : budget;
  std::vector<Job*> decoding, prefilling, batch;
  for (auto& j : running_) (static_cast<int>(j->tokens.size()) - j->kv_len == 1 ? decoding : prefilling).push_back(j.get());
  propose_drafts(decoding);
  for (Job* j : decoding) {
    if (budget == 0) break;
    const int extra = std::min<int>(static_cast<int>(j->proposal.size()), budget - 1);
    j->proposal.resize(static_cast<std::size_t>(extra));
    j->feed = 1;
    budget -= 1 + extra;
    batch.push_back(j);
  }
  for (Job* j : prefilling) {
    if (budget == 0) break;
    j->proposal.clear();
    j->feed = std::min({static_cast<int>(j->tokens.size()) - j->kv_len, budget, chunk_cap});
    budget -= j->feed;
    batch.push_back(j);
  }
  // Pages for this step, oldest job first; when the pool is exhausted the youngest running job
  // gives its pages back (they stay in the prefix cache) and waits at the head of the queue.
  std::sort(batch.begin(), batch.end(), [](Job* a, Job* b) { return a->admit_order < b->admit_order; });
  std::vector<Job*> preempted;
  for (Job* j : batch) {
    if (!j->admitted) continue;
    const int positions = j->kv_len + j->feed + static_cast<int>(j->proposal.size());
    Status st = grow_pages(*j, positions);
    while (!st) {
      Job* victim = nullptr;
      for (auto it = running_.rbegin(); it != running_.rend(); ++it)
        if ((*it)->admitted) {
          victim = it->get();
          break;
        }
      int admitted = 0;
      for (auto& r : running_) admitted += r->admitted ? 1 : 0;
      if (victim == j && admitted == 1) {
        finish(*j, StopReason::error, st.error());
        break;
      }
      preempt(*victim);
      preempted.push_back(victim);
      if (victim == j) break;
      st = grow_pages(*j, positions);
    }
  }
  // Preempted jobs return to the queue's head, oldest first (running_ is in admission order).
  if (!preempted.empty()) {
    std::vector<std::unique_ptr<Job>> back;
    for (auto it = running_.begin(); it != running_.end();) {
      if (!(*it)->admitted) {
        back.push_back(std::move(*it));
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = back.rbegin(); it != back.rend(); ++it) queue_.push_front(std::move(*it));
  }

  // The forward step.
  std::vector<Job*> live;
  std::vector<std::vector<std::int32_t>> ids;
  std::vector<ForwardSeq> seqs;
  for (Job* j : batch)
    if (j->admitted && !j->finished()) live.push_back(j);
  ids.reserve(live.size());
  const auto now = Clock::now();
  for (Job* j : live) {
    auto& v = ids.emplace_back(j->tokens.begin() + j->kv_len, j->tokens.begin() + j->kv_len + j->feed);
    v.insert(v.end(), j->proposal.begin(), j->proposal.end());
    seqs.push_back({v, j->kv_len, j->pages, !j->proposal.empty()});
    if (!j->started) {
      j->started = true;
      j->t_first_step = now;
      j->result.timings.queued_s = seconds(j->t_submit, now);
    }
    if (static_cast<int>(j->tokens.size()) - j->kv_len > 1) j->result.timings.prefilled_tokens += j->feed;
  }
  // Plain decode rows with settings the device covers: the model picks the tokens and only the ids
  // come back (no logits copy, no host pass over the vocabulary).
  bool on_device = opts_.device_sampling && device_sampling_ && !live.empty();
  for (Job* j : live)
    on_device = on_device && j->proposal.empty() && j->kv_len + j->feed == static_cast<int>(j->tokens.size()) &&
                device_covers(*j);
  bool sampled_on_device = false;
  if (!seqs.empty()) {
    const auto t_fwd = Clock::now();
    Status st;
    if (on_device) {
      device_sampling_settings_.clear();
      for (Job* j : live) {
        const SamplerSettings& ss = j->s.sampler;
        DeviceSampling d;
        d.temperature = ss.greedy() ? 0.0f : ss.temperature;
        d.top_k = ss.top_k;
        d.top_p = ss.top_p;
        d.min_p = ss.min_p;
        d.seed = j->rng.seed();
        d.step = ss.greedy() ? 0 : j->rng.next_step();
        device_sampling_settings_.push_back(d);
      }
      st = model_.forward_sample(seqs, device_sampling_settings_, device_ids_);
      if (!st && st.error().kind == ErrorKind::unsupported) {  // asked before any layer ran
        device_sampling_ = false;
        st = model_.forward(seqs, logits_);
      } else {
        sampled_on_device = st.ok();
        stats_.device_sampled += sampled_on_device ? 1 : 0;
      }
    } else {
      st = model_.forward(seqs, logits_);
    }
    stats_.forward_s += seconds(t_fwd, Clock::now());
    ++stats_.steps;
    if (!st) {
      for (Job* j : live) finish(*j, StopReason::error, st.error());
      live.clear();
    }
  }
  const auto t_sample = Clock::now();

  // Sampling and verification.
  const std::size_t V = static_cast<std::size_t>(vocab_);
  std::size_t row = 0;
  for (std::size_t i = 0; sampled_on_device && i < live.size(); ++i) {
    Job* j = live[i];
    j->kv_len += j->feed;
    if (!j->s.sampler.greedy()) j->rng.take_step();  // the draw the device made
    accept_token(*j, device_ids_[i]);
    publish_pages(*j);
  }
  if (!sampled_on_device)
    for (Job* j : live) {
      const int rows = j->proposal.empty() ? 1 : 1 + static_cast<int>(j->proposal.size());
      const float* base = logits_.data() + row * V;
      row += static_cast<std::size_t>(rows);
      j->kv_len += j->feed;
      if (j->kv_len < static_cast<int>(j->tokens.size())) {  // a prompt chunk that does not reach the end
        publish_pages(*j);
        continue;
      }
      if (j->proposal.empty()) {
        accept_token(*j, sampler_.sample(std::span<const float>(base, V), j->s.sampler, context(*j), j->rng));
      } else {
        const auto proposal = j->proposal;
        const bool greedy = j->s.sampler.greedy();
        int accepted = 0;
        bool all = true;
        for (std::size_t i = 0; i < proposal.size(); ++i) {
          sampler_.probabilities(std::span<const float>(base + i * V, V), j->s.sampler, context(*j), j->rng, probs_);
          std::span<const float> q;
          if (!j->proposal_q.empty()) q = std::span<const float>(j->proposal_q.data() + i * V, V);
          const DraftVerdict v = verify_draft_token(probs_, q, proposal[i], greedy, j->rng);
          accept_token(*j, v.token);
          if (!v.accepted) {
            all = false;
            break;
          }
          ++accepted;
          j->kv_len += 1;  // the accepted draft's KV is valid
          if (j->finished()) {
            all = false;
            break;
          }
        }
        if (all)
          accept_token(*j, sampler_.sample(std::span<const float>(base + proposal.size() * V, V), j->s.sampler, context(*j), j->rng));
        j->result.timings.draft_proposed += static_cast<int>(proposal.size());
        j->result.timings.draft_accepted += accepted;
        j->draft.kv_len = std::min(j->draft.kv_len, j->kv_len);
      }
      publish_pages(*j);
    }
  stats_.sample_s += seconds(t_sample, Clock::now());
  // The draft model's cache holds proposals that may not have been verified (or were rejected):
  // keep only positions whose tokens are confirmed.
  for (Job* j : decoding) j->draft.kv_len = std::min(j->draft.kv_len, j->kv_len);
  for (Job* j : live) emit(*j);
  for (auto& j : running_)
    if (j->finished()) emit(*j);
  retire();
  stats_.step_s += seconds(t_step, Clock::now());
  return true;
}

}  // namespace

Result<std::unique_ptr<Generator>> Generator::create(Model& model, const GeneratorOptions& options) {
  if (options.max_jobs < 1) return make_error(ErrorKind::invalid_argument, "generator: max_jobs must be >= 1");
  if (options.prefill_chunk < 0) return make_error(ErrorKind::invalid_argument, "generator: prefill_chunk must be >= 0");
  if (Model* d = options.draft_model) {
    if (d == &model) return make_error(ErrorKind::invalid_argument, "draft model: load a second copy (the draft needs its own cache)");
    if (d->vocab_size() != model.vocab_size())
      return make_error(ErrorKind::invalid_argument, "draft model ", d->info().path, ": vocabulary of ", d->vocab_size(),
                        " tokens, the model has ", model.vocab_size(), "; a draft must share the model's tokenizer");
    if (options.tokenizer && options.draft_tokenizer) {
      const Tokenizer& a = *options.tokenizer;
      const Tokenizer& b = *options.draft_tokenizer;
      if (a.vocab_size() != b.vocab_size())
        return make_error(ErrorKind::invalid_argument, "draft model ", d->info().path, ": its tokenizer has ", b.vocab_size(),
                          " tokens, the model's ", a.vocab_size(), "; a draft must share the model's tokenizer");
      for (std::int32_t id = 0; id < a.vocab_size(); ++id)
        if (a.token_text(id) != b.token_text(id))
          return make_error(ErrorKind::invalid_argument, "draft model ", d->info().path, ": token ", id, " is '",
                            b.token_text(id), "', the model's is '", a.token_text(id),
                            "'; a draft must share the model's tokenizer");
    }
  }
  return std::unique_ptr<Generator>(new GeneratorImpl(model, options));
}

Result<std::vector<JobResult>> generate_all(Model& model, std::vector<JobSettings> jobs, const GeneratorOptions& options) {
  NIBBLE_ASSIGN_OR_RETURN(auto gen, Generator::create(model, options));
  std::vector<std::uint64_t> ids;
  for (auto& j : jobs) {
    NIBBLE_ASSIGN_OR_RETURN(auto id, gen->submit(std::move(j)));
    ids.push_back(id);
  }
  NIBBLE_TRY(gen->run_until_idle());
  std::vector<JobResult> out;
  for (auto id : ids) {
    auto r = gen->take_result(id);
    if (!r) return make_error(ErrorKind::internal, "generator: job ", id, " has no result");
    out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace nibble
