// Public model API: load a model folder (fp16/bf16, EXL2, GPTQ) onto a device, describe it, run
// forward steps over paged KV caches, and the evaluation helpers built on that (greedy/sampled
// generation over token ids, windowed and dialog perplexity). Implemented in engine/model over
// engine/backend; used by app/ (CLI, bridge) and tests. A Model is not thread-safe: one caller
// at a time (the engine thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nibble/error.h"

namespace nibble {

// Progress of a long operation: done/total units; return false to cancel (-> ErrorKind::cancelled).
// Runs on the calling thread.
using ProgressFn = std::function<bool(std::size_t done, std::size_t total)>;

// KV cache element type, chosen at load. fp16: half precision on GPUs; the CPU backend keeps fp32
// (its reference). q8 / q4: integers with one scale per group of 32 values (head_dim when 32 does
// not divide it) of each position and head; fp32 scales on the CPU, fp16 on the GPU (plan.h).
enum class KvCacheMode : std::uint8_t { fp16, q8, q4 };

// One contiguous range of decoder layers on one device (a model split across devices is a list
// of these in layer order: nibble/plan.h's plan_placement makes one).
struct LayerPlacement {
  std::string device;            // "cpu", "cuda:N"
  int first_layer = 0;           // [first_layer, last_layer)
  int last_layer = 0;
};

struct LoadOptions {
  std::string device = "cpu";    // "cpu"; "cuda:N" once the CUDA backend is built
  unsigned threads = 0;          // CPU worker threads, 0 = one per core
  int context = 0;               // KV cache capacity in tokens (all sequences), 0 = min(max positions, 8192)
  int max_batch_tokens = 512;    // most tokens one forward step may carry
  int page_size = 64;            // KV cache page, in tokens
  std::vector<int> split_layers; // decoder-layer indices where a new segment starts (e.g. {3, 6})
  // Layers per device, in layer order, covering [0, layers) without gaps; the embedding goes with
  // the first range and the final norm + head with the last. Empty: every layer on `device`
  // (segments at split_layers). A device may appear more than once (each range is its own
  // segment; two ranges on one GPU exercise the cross-device path). When set, `device` and
  // `split_layers` are ignored. Hidden states cross GPU -> GPU by peer copies where the GPUs can
  // reach each other, else through pinned host memory.
  std::vector<LayerPlacement> placement;
  // Memory left free on each GPU. Before allocating anything, each GPU's share (by the memory
  // plan, plus the CUDA runtime allowance and this reserve) is checked against its free memory,
  // and the CPU ranges' share against the host's available RAM: out_of_memory naming the device
  // when it does not fit (as plan_placement budgets them).
  std::size_t reserve_bytes = 0;
  // Tensor parallelism: every layer shared among these GPUs ("cuda:N", two or more, distinct):
  // each holds its attention heads with their KV cache, o_proj, and a share of the MLP's columns;
  // NCCL (loaded at run time) gathers and sums between them. When set, `device`, `split_layers`
  // and `placement` are ignored. The heads and KV heads must divide evenly among the GPUs.
  std::vector<std::string> tensor_parallel;
  KvCacheMode kv_cache = KvCacheMode::fp16;
  ProgressFn progress;           // bytes of weights placed so far / total
};

struct LayerTypeInfo {
  std::string name;          // "self_attn.q_proj", "mlp.down_proj", "lm_head", "embed_tokens"
  std::string format;        // "fp16", "bf16", "fp32", "exl2", "gptq", or "mixed: exl2, fp16"
  double bits_per_weight = 0;
  std::int64_t params = 0;   // weights of this type over every layer
  int count = 0;             // how many layers have it
  std::string detail;        // "2/3/4/8-bit groups" (exl2), "4-bit g128 act-order v1" (gptq)
};

struct ModelInfo {
  std::string path;
  std::string architecture;  // config architectures[0]
  std::string model_type;
  std::string family;        // the implementation that runs it: llama, mistral, qwen2, qwen3
  bool loaded_as_llama = false;  // an unlisted architecture proven Llama-shaped
  std::int64_t parameters = 0;
  int layers = 0, hidden_size = 0, intermediate_size = 0, heads = 0, kv_heads = 0, head_dim = 0;
  int vocab_size = 0;
  int context_length = 0;    // max_position_embeddings
  int sliding_window = 0;    // largest window in any layer, 0 = none
  double rms_norm_eps = 0;
  std::string rope;          // "default, theta 10000"
  std::string dtype;         // config dtype / torch_dtype
  std::string quant_method;  // "", "exl2", "gptq"
  bool tied_embeddings = false;
  std::optional<int> bos_id;
  std::vector<int> eos_ids;  // config + generation_config.json
  std::vector<LayerTypeInfo> layer_types;
  std::size_t weight_bytes = 0;
  std::string weight_files;
};

// Reads config.json and the safetensors headers only (fast; validates every layer's tensors).
Result<ModelInfo> inspect_model(const std::string& path);

// One sequence's part of a forward step (the public form of the engine's BatchPlan).
struct ForwardSeq {
  std::span<const std::int32_t> tokens;  // this step's tokens (a prompt chunk, or 1 for decode)
  std::int32_t pos_begin = 0;            // tokens already in this sequence's cache
  std::span<const std::int32_t> pages;   // block table covering positions [0, pos_begin + tokens.size())
  bool all_logits = false;               // logits for every token, else only for the last
};

class Sequence;

// How the device picks one sequence's next token (Model::forward_sample): greedy (argmax, lowest id
// on ties) when temperature <= 0, else temperature, top-k, top-p and min-p, then the kept token
// with the largest logit / T + Gumbel noise uniform(seed, step, id): the CPU sampler's rule and
// random stream (nibble/runtime.h), so both paths pick the same token for a seed and step.
struct DeviceSampling {
  float temperature = 0.0f;
  int top_k = 0;        // 0: off
  float top_p = 1.0f;   // 1: off
  float min_p = 0.0f;   // 0: off
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
};

// Bytes a loaded model holds on one device, by category, as its backend counted its allocations
// (the same split as the memory plan, nibble/plan.h).
struct DeviceMemoryUse {
  std::string device;          // "cpu", "cuda:0"
  std::size_t weights = 0;     // linear layers, embedding, head, norms, RoPE table
  std::size_t kv_cache = 0;    // K and V pages of every layer
  std::size_t scratch = 0;     // activations of one forward step, logits, kernel workspaces
  std::size_t total() const { return weights + kv_cache + scratch; }
};

class Model {
 public:
  virtual ~Model() = default;

  // io/format/unsupported errors name the file and tensor; cancelled when progress returns false.
  static Result<std::unique_ptr<Model>> load(const std::string& path, const LoadOptions& options = {});

  virtual const ModelInfo& info() const = 0;
  virtual int vocab_size() const = 0;
  virtual int max_batch_tokens() const = 0;
  virtual int page_size() const = 0;
  virtual const std::vector<int>& stop_ids() const = 0;

  // What this model holds per device (one entry per device in layer order), and how long
  // Model::load took (seconds, wall clock, file mapping to the last byte placed).
  virtual std::vector<DeviceMemoryUse> memory_use() const { return {}; }
  virtual double load_seconds() const { return 0; }

  // The KV page pool: a simple free list (the runtime builds its allocator on top).
  virtual int pages_total() const = 0;
  virtual int pages_free() const = 0;
  virtual Result<std::vector<std::int32_t>> allocate_pages(int count) = 0;  // out_of_memory when short
  virtual void free_pages(std::span<const std::int32_t> pages) = 0;

  // One forward step over several sequences. logits: for each seq in order, one row per token
  // (all_logits) or one row; each row [vocab] fp32. invalid_argument for a malformed step.
  virtual Status forward(std::span<const ForwardSeq> seqs, std::vector<float>& logits) = 0;
  // The same step with the next token of each sequence (after its last token; all_logits must be
  // off) chosen on the device by sampling[i], so only the ids cross to the host.
  // ErrorKind::unsupported where the backend holding the head cannot (the CPU backend): call
  // forward() and sample on the host.
  virtual Status forward_sample(std::span<const ForwardSeq> /*seqs*/, std::span<const DeviceSampling> /*sampling*/,
                                std::vector<std::int32_t>& /*ids*/) {
    return make_error(ErrorKind::unsupported, "sampling on the device: not on this model's devices");
  }

  // A sequence that owns its pages (returned to the pool when it is cleared or destroyed).
  // It must not outlive the model.
  virtual std::unique_ptr<Sequence> new_sequence() = 0;
};

class Sequence {
 public:
  virtual ~Sequence() = default;
  // Appends ids to the cache (in chunks of max_batch_tokens); logits of the last id ([vocab]),
  // or of every id ([ids.size()][vocab]) with all_logits.
  virtual Status append(std::span<const std::int32_t> ids, bool all_logits, std::vector<float>& logits) = 0;
  virtual int length() const = 0;
  virtual void clear() = 0;
};

struct GenerateOptions {
  int max_tokens = 128;
  bool stop_at_eos = true;     // stop after a token in Model::stop_ids()
  float temperature = 0.0f;    // 0 = greedy (argmax, lowest id on ties)
  float top_p = 1.0f;
  std::uint64_t seed = 0;
  std::function<bool(std::int32_t)> on_token;  // each new id; return false to stop
};

// Prefills `prompt` into a fresh sequence and decodes; returns the new ids (prompt excluded).
Result<std::vector<std::int32_t>> generate(Model& model, std::span<const std::int32_t> prompt,
                                           const GenerateOptions& options);

struct PerplexityResult {
  double perplexity = 0;
  double mean_nll = 0;           // nats per scored token
  std::int64_t tokens_scored = 0;
  int sequences = 0;             // windows or dialogs evaluated
};

// ppl_raw: the first windows * window_len ids as `windows` independent windows; exp(mean NLL of
// tokens 1..L-1 of each window given its prefix). Fewer ids than needed: as many whole windows as fit.
Result<PerplexityResult> perplexity_windows(Model& model, std::span<const std::int32_t> ids, int windows,
                                            int window_len, const ProgressFn& progress = {});
// ppl_chat: each dialog (already rendered and tokenized) scored on every token after its first;
// the NLL is pooled over all dialogs.
Result<PerplexityResult> perplexity_dialogs(Model& model, const std::vector<std::vector<std::int32_t>>& dialogs,
                                            const ProgressFn& progress = {});

// Reads an evaluation corpus: plain text, or gzip-compressed (detected from the content).
Result<std::string> read_corpus_file(const std::string& path);

}  // namespace nibble
