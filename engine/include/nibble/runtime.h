// Public generation runtime: the part between "a prompt" and "a stream of text". A Generator owns a
// job queue over one Model: continuous batching (jobs join and leave between forward steps), chunked
// prefill interleaved with other jobs' decode steps, prefix reuse of full KV pages (hashed over the
// token ids, reference-counted, unreferenced pages kept in LRU order), the sampler, stop ids and
// stop strings, speculative decoding (a draft model or n-gram lookup) and per-job streaming.
// Implemented in engine/runtime over the Model API; used by app/ (CLI, bridge) and tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nibble/error.h"
#include "nibble/model.h"

namespace nibble {

class Tokenizer;

// ---------------------------------------------------------------------------------------------
// Random numbers of one job. Token draws use the counter-based stream the GPU sampling kernels
// share (kernels/include/nibble_kernels/rng.h: Gumbel noise uniform(seed, step, token id)), so a
// seed gives the same tokens on both paths; step() counts the draws. Everything else (XTC's coin,
// speculative acceptance) uses next()/uniform(): xoshiro256** seeded through splitmix64, the same
// sequence on every platform (no std:: distributions, whose output is implementation-defined).
class SamplerRng {
 public:
  explicit SamplerRng(std::uint64_t seed = 0);
  std::uint64_t next();
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  std::uint64_t seed() const { return seed_; }
  std::uint64_t take_step() { return step_++; }       // position in the token-draw stream
  std::uint64_t next_step() const { return step_; }  // what take_step() returns next

 private:
  std::uint64_t s_[4];
  std::uint64_t seed_ = 0, step_ = 0;
};

// Sampler settings. The defaults change nothing: with them the sampler draws from softmax(logits).
// Order of application (the order HF transformers and text-generation-webui use):
//   1. banned ids (-inf), logit bias (added), stop ids banned while fewer than min_tokens are out
//   2. repetition penalty (HF: positive logits divided, negative multiplied), frequency penalty
//      (minus count * f), presence penalty (minus p once seen), over the last penalty_range tokens
//   3. DRY over the last dry_range tokens
//   4. temperature (0 = greedy: argmax, lowest id on ties; nothing below applies)
//   5. top-k, top-p, min-p, typical-p (each keeps at least one token)
//   6. XTC, then one draw: the kept token with the largest log p + Gumbel noise (Gumbel-max, the
//      GPU kernels' rule and random stream).
// The GPU sampling kernels cover temperature, top-k, top-p and min-p; with only those settings both
// paths pick the same token for a seed and step.
struct SamplerSettings {
  float temperature = 1.0f;          // 0 = greedy
  int top_k = 0;                     // 0 = off; keeps every token tied with the k-th logit
  float top_p = 1.0f;                // 1 = off; smallest set of most likely tokens with mass >= top_p
  float min_p = 0.0f;                // 0 = off; drops tokens with p < min_p * p_max
  float typical_p = 1.0f;            // 1 = off; locally typical sampling (Meister et al.)
  float repetition_penalty = 1.0f;   // 1 = off
  float frequency_penalty = 0.0f;    // 0 = off
  float presence_penalty = 0.0f;     // 0 = off
  int penalty_range = 1024;          // tokens of context the three penalties look at; 0 = all
  bool penalize_prompt = true;       // false: penalties see generated tokens only
  float dry_multiplier = 0.0f;       // 0 = off (text-generation-webui: 0.8 is a common choice)
  float dry_base = 1.75f;
  int dry_allowed_length = 2;
  int dry_range = 0;                 // 0 = all context
  std::vector<std::int32_t> dry_sequence_breakers;  // ids that end a repeated sequence
  float xtc_threshold = 0.1f;
  float xtc_probability = 0.0f;      // 0 = off
  std::vector<std::pair<std::int32_t, float>> logit_bias;  // (id, added to its logit)
  std::vector<std::int32_t> banned_ids;

  bool greedy() const { return temperature <= 0.0f; }
  // Whether steps 1-3 can change the logits (bans, bias, penalties, DRY); min-tokens suppression
  // comes from the context, not the settings.
  bool edits_logits() const {
    return !banned_ids.empty() || !logit_bias.empty() || repetition_penalty != 1.0f || frequency_penalty != 0.0f ||
           presence_penalty != 0.0f || dry_multiplier > 0.0f;
  }
  // invalid_argument naming the setting when a value is out of range (e.g. top_p outside (0, 1]).
  Status validate(int vocab_size) const;
};

// Context the sampler looks at for penalties and DRY.
struct SamplerContext {
  std::span<const std::int32_t> tokens;  // the whole sequence so far (prompt + generated)
  int prompt_tokens = 0;                 // how many of `tokens` are the prompt
  std::span<const std::int32_t> suppress_ids;  // extra ids to ban this step (stop ids before min_tokens)
};

// The CPU sampler (the reference the GPU sampling kernels are held to). Not thread-safe; one per
// thread. Scratch buffers are reused between calls.
class Sampler {
 public:
  // The processed distribution (steps 1-6 above, with XTC's draw taken from rng when it is on):
  // probs[vocab], zero outside the kept set, summing to 1. For greedy settings: one-hot at argmax.
  void probabilities(std::span<const float> logits, const SamplerSettings& s, const SamplerContext& ctx,
                     SamplerRng& rng, std::vector<float>& probs);
  // Draws from probabilities() by Gumbel-max with rng's token stream (advancing it one step;
  // greedy settings draw nothing).
  std::int32_t sample(std::span<const float> logits, const SamplerSettings& s, const SamplerContext& ctx,
                      SamplerRng& rng);
  // Gumbel-max over the nonzero probs with noise uniform(seed, step, id).
  static std::int32_t gumbel_max(std::span<const float> probs, std::uint64_t seed, std::uint64_t step);
  // Inverse CDF over probs in ascending id order for u in [0, 1); the last nonzero id when rounding
  // leaves u past the total. (Speculative residual draws.)
  static std::int32_t draw(std::span<const float> probs, double u);

 private:
  std::vector<float> work_;
  std::vector<float> probs_;
  std::vector<std::int32_t> order_;
};

// ---------------------------------------------------------------------------------------------
// Jobs.

enum class StopReason : std::uint8_t {
  none,        // still running
  eos,         // a stop id was sampled
  stop_string, // a stop string appeared in the text
  length,      // max_new_tokens reached
  cancelled,   // cancel() or the callback returned false
  error,       // see JobResult::error
};
const char* stop_reason_name(StopReason r);

enum class DraftMode : std::uint8_t { none, model, ngram };

struct JobTimings {
  double queued_s = 0;             // submit -> first forward step of the job
  double ttft_s = 0;               // submit -> first token sampled
  double prefill_s = 0;            // first step -> first token
  double decode_s = 0;             // first token -> last token
  int prompt_tokens = 0;
  int cached_tokens = 0;           // prompt tokens whose KV came from the prefix cache
  int prefilled_tokens = 0;        // prompt tokens run through the model (prompt - cached, + recomputes)
  int generated_tokens = 0;
  int draft_proposed = 0;          // speculative tokens proposed / accepted
  int draft_accepted = 0;
  int preemptions = 0;             // times the job gave its pages back when the cache ran full
  double prefill_tokens_per_s() const { return prefill_s > 0 ? prefilled_tokens / prefill_s : 0; }
  double decode_tokens_per_s() const { return decode_s > 0 && generated_tokens > 1 ? (generated_tokens - 1) / decode_s : 0; }
  double draft_acceptance() const { return draft_proposed > 0 ? static_cast<double>(draft_accepted) / draft_proposed : 0; }
};

// One streaming update. `text` is a UTF-8-safe delta (never splits a character; text that may be
// the start of a stop string is held back until it is known not to be); `ids` are the tokens
// sampled since the last update. The final update has finished = true with the reason and timings.
struct JobUpdate {
  std::uint64_t job = 0;
  std::string text;
  std::vector<std::int32_t> ids;
  bool finished = false;
  StopReason reason = StopReason::none;
  JobTimings timings;
  std::optional<Error> error;      // reason == error
};

// Runs on the thread that calls Generator::step() / run() (the engine thread), between forward
// steps; keep it short. Return false to cancel the job.
using JobCallback = std::function<bool(const JobUpdate&)>;

struct JobSettings {
  std::vector<std::int32_t> prompt;        // token ids (not empty)
  int max_new_tokens = 256;
  int min_new_tokens = 0;                  // stop ids and stop strings are ignored before this many
  bool stop_at_model_eos = true;           // Model::stop_ids() stop the job
  std::vector<std::int32_t> stop_ids;      // extra stop ids
  std::vector<std::string> stop_strings;   // needs a tokenizer on the Generator
  bool include_stop_string = false;        // keep the matched stop string in the text
  std::uint64_t seed = 0;
  SamplerSettings sampler;
  DraftMode draft = DraftMode::none;       // DraftMode::model needs a draft model on the Generator
  int draft_tokens = 4;                    // tokens proposed per step
  int ngram_min = 2, ngram_max = 4;        // n-gram drafting: suffix lengths tried (longest first)
  bool reuse_prefix = true;                // look up and publish full pages in the prefix cache
  JobCallback on_update;
};

struct JobResult {
  std::uint64_t job = 0;
  std::vector<std::int32_t> ids;           // generated ids (the stop id included when it stopped the job)
  std::string text;                        // the streamed text (stop string excluded unless asked)
  StopReason reason = StopReason::none;
  JobTimings timings;
  std::optional<Error> error;
};

struct GeneratorOptions {
  const Tokenizer* tokenizer = nullptr;    // for text, stop strings and DRY breaker strings (may be null)
  Model* draft_model = nullptr;            // for DraftMode::model; vocabulary checked at construction
  const Tokenizer* draft_tokenizer = nullptr;  // when given with `tokenizer`: every token's text must match
  int max_jobs = 64;                       // jobs decoding at once (more wait in the queue)
  int prefill_chunk = 0;                   // most prompt tokens of one job per step; 0 = max_batch_tokens
  bool prefix_cache = true;                // keep unreferenced full pages for later reuse (LRU)
  // Decode steps whose jobs only use temperature, top-k, top-p and min-p (or greedy) pick their
  // tokens on the device when the model can (Model::forward_sample): only ids cross to the host.
  // The same tokens as host sampling for a seed (up to float rounding of near-ties).
  bool device_sampling = true;
};

// Statistics of the page allocator / prefix cache.
struct CacheStats {
  int pages_total = 0;       // the model's pool
  int pages_in_use = 0;      // held by running jobs
  int pages_cached = 0;      // unreferenced pages kept for reuse
  std::int64_t hits = 0;     // pages reused (over the Generator's life)
  std::int64_t evictions = 0;
};

// Where a Generator's steps have spent their wall time since it was created: the model's forward
// passes (device work and the logits' copy to the host included), sampling and draft
// verification, and the whole of step() (the rest is scheduling, page bookkeeping and streaming).
struct StepStats {
  std::int64_t steps = 0;        // steps that ran a forward pass
  std::int64_t device_sampled = 0;  // of those, steps whose tokens the device picked
  double step_s = 0.0;
  double forward_s = 0.0;
  double sample_s = 0.0;
};

// The scheduler. Not thread-safe except for submit() and cancel(), which any thread may call;
// step()/run()/run_until_idle() and every callback run on the one thread that drives the Generator.
// The Generator must not outlive its models; while it lives, it is the models' only user.
class Generator {
 public:
  // invalid_argument/unsupported when the draft model's vocabulary differs from the model's.
  static Result<std::unique_ptr<Generator>> create(Model& model, const GeneratorOptions& options = {});
  virtual ~Generator() = default;

  // Queues a job; invalid_argument for bad settings (empty prompt, ids outside the vocabulary,
  // a prompt longer than the whole cache, stop strings without a tokenizer, ...).
  virtual Result<std::uint64_t> submit(JobSettings job) = 0;
  // Ends a job at the next step boundary (queued or running): its final update says cancelled.
  virtual void cancel(std::uint64_t job) = 0;
  // One scheduling step: admit, one forward over the batch, sample, stream. Returns false when
  // there was nothing to do. A model error fails the jobs of that step, not the Generator.
  virtual Result<bool> step() = 0;
  // Steps until every job queued so far has finished.
  virtual Status run_until_idle() = 0;
  // Finished jobs' results (taken once; jobs stay until taken).
  virtual std::optional<JobResult> take_result(std::uint64_t job) = 0;
  virtual int jobs_pending() const = 0;  // queued + running
  virtual CacheStats cache_stats() const = 0;
  virtual StepStats step_stats() const = 0;
  // Drops every unreferenced cached page (e.g. before a perplexity run on the same model).
  virtual void clear_prefix_cache() = 0;
};

// Convenience: runs jobs to completion on the calling thread; results in input order.
Result<std::vector<JobResult>> generate_all(Model& model, std::vector<JobSettings> jobs,
                                            const GeneratorOptions& options = {});

}  // namespace nibble
