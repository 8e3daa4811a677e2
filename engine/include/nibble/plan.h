// Public memory plan: how many bytes a model folder will take on a device before it is loaded,
// split the way the backends count what they allocate (weights, KV cache, scratch), for a context
// length, KV cache type and batch/page settings, with a fits / does-not-fit verdict for given GPU
// memory sizes. Computed from config.json and the safetensors headers only (no weight bytes are
// read except EXL2 permutations and GPTQ zero points/act-order tables, which decide buffer sizes).
// Implemented in engine/plan; used by the app (model card, quantization wizard), `nibble-cli info
// --vram` and tests. The numbers follow the allocation code of engine/backend/cpu and
// engine/backend/cuda; keep them in step when a backend changes what it allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nibble/error.h"
#include "nibble/model.h"

namespace nibble {

class WeightSource;  // engine/model (internal)

// Bytes by category, the same split Model::memory_use() reports for a loaded model.
struct MemorySplit {
  std::size_t weights = 0;   // linear layers, embedding, head, norms, RoPE table
  std::size_t kv_cache = 0;  // K and V pages of every layer
  std::size_t scratch = 0;   // activations of one forward step, logits, kernel workspaces
  std::size_t total() const { return weights + kv_cache + scratch; }
};

struct PlanOptions {
  int context = 0;               // KV cache capacity in tokens; 0 = min(max positions, 8192) as Model::load
  int max_batch_tokens = 512;    // LoadOptions::max_batch_tokens
  int page_size = 64;            // LoadOptions::page_size
  std::vector<int> split_layers; // LoadOptions::split_layers (segments on one device)
  KvCacheMode kv_cache = KvCacheMode::fp16;
  int gpu_sm_count = 132;        // SMs sizing the quantized GEMV split plan (H100 SXM); plan_memory only
  std::vector<std::size_t> gpu_memory_bytes;  // GPUs to give a verdict for (e.g. 24 GiB, 80 GiB)
};

// A verdict for one GPU size: needed = the CUDA split + runtime_overhead.
struct GpuFit {
  std::size_t capacity_bytes = 0;
  std::size_t needed_bytes = 0;
  bool fits = false;
  std::size_t headroom_bytes = 0;  // capacity - needed when it fits, else 0
  // The longest context (whole pages, at most the model's max positions) that still fits with
  // these settings; 0 when even the weights and scratch do not fit.
  int max_context = 0;
};

struct MemoryPlan {
  std::string model_path;
  int context = 0;                  // tokens the KV cache holds (whole pages)
  int kv_pages = 0;
  int page_size = 0;
  int max_batch_tokens = 0;
  KvCacheMode kv_cache = KvCacheMode::fp16;
  std::size_t file_tensor_bytes = 0;   // sum of the tensors' bytes in the weight files (headers)
  // Bytes of K+V one token adds on each backend (per-layer layout, all layers).
  double cuda_kv_bytes_per_token = 0;
  double cpu_kv_bytes_per_token = 0;
  MemorySplit cuda;                 // what the CUDA backend allocates (cudaMalloc, by its counters)
  MemorySplit cpu;                  // what the CPU backend allocates (host memory, by its counters)
  // Device memory the CUDA runtime takes besides our buffers (context, cuBLAS workspace, graph
  // pools, allocation rounding): an allowance, not a count.
  std::size_t cuda_runtime_overhead = 0;
  bool cuda_supports_cache = true;  // false: the CUDA backend refuses this KV cache type for this model's head_dim
  std::vector<GpuFit> gpus;         // one per PlanOptions::gpu_memory_bytes, same order
};

// Bytes one segment [first, last) takes on the CUDA and CPU backends with these options.
struct SegmentMemory {
  MemorySplit cuda, cpu;
};

// A model folder's per-layer byte counts, read once; plan() is then arithmetic only (cheap enough
// for a slider on the GUI thread). Copies share the counts.
class MemoryPlanner {
 public:
  // Reads `model_path` (a model folder or a file in one); not_found / format errors as
  // Model::load would give them. `gpu_sm_count`: see PlanOptions.
  static Result<MemoryPlanner> open(const std::string& model_path, int gpu_sm_count = 132);
  // The same over a weight table the engine already opened (Model::load's check); engine-internal.
  static Result<MemoryPlanner> from_weights(const WeightSource& weights, int gpu_sm_count = 132);
  // invalid_argument naming the bad option.
  Result<MemoryPlan> plan(const PlanOptions& options) const;
  // One segment's bytes (options.context/batch/page/cache; split_layers ignored).
  SegmentMemory segment(const PlanOptions& options, int first_layer, int last_layer, bool embedding, bool head) const;
  // One GPU's CUDA bytes under tensor parallelism over `shards` GPUs (share `shard`; share 0 holds
  // the head): every layer's o_proj and the embedding whole, the other layer weights and the KV
  // cache divided (the weights by their parameter counts, so within a few percent for EXL2, whose
  // cut follows group boundaries), the working buffers whole plus the gathered attention rows.
  MemorySplit tensor_parallel_share(const PlanOptions& options, int shards, int shard) const;
  int layers() const;
  int max_positions() const;

  struct Costs;

 private:
  std::shared_ptr<const Costs> costs_;
};

// ---- Placement: which layers go on which device ----------------------------------------------

// A device the placement may use, with what it has free now (nibble/devices.h: list_gpus,
// host_memory). "cpu" takes the CPU backend's byte counts, "cuda:N" the CUDA backend's.
struct PlacementDevice {
  std::string device;           // "cuda:0", "cpu"
  std::string name;             // for messages and the UI ("NVIDIA H100 80GB HBM3", "CPU")
  std::size_t free_bytes = 0;
};

enum class SplitMode : std::uint8_t {
  auto_fill,    // fill the GPUs in order, each up to free - reserve; then the CPU (if allowed)
  manual,       // at most gpu_split_bytes[i] on GPU i (ExLlamaV2's gpu_split), then the CPU
  fit_context,  // as auto_fill, at the longest context that fits (whole pages, <= max positions)
};

struct PlacementOptions {
  PlanOptions plan;                      // context, batch, page size, KV cache type
  std::vector<PlacementDevice> gpus;     // in the order layers fill them
  PlacementDevice cpu{"cpu", "CPU", 0};  // host RAM available to the CPU backend
  SplitMode mode = SplitMode::auto_fill;
  std::vector<std::size_t> gpu_split_bytes;  // manual: one budget per entry of `gpus`
  std::size_t reserve_bytes = 0;         // left free on every GPU (besides the runtime allowance)
  // Layers run by the CPU backend: -1 = as many as needed when the GPUs are full (auto), N = the
  // first N layers exactly (the CPU also takes the embedding, a table lookup; the head stays on
  // the last GPU). 0 = never.
  int cpu_layers = -1;
  // Tensor parallelism: every layer shared among all of `gpus` (two or more) instead of a layer
  // split; mode, gpu_split_bytes and cpu_layers are then ignored (no layer runs on the CPU).
  bool tensor_parallel = false;
};

// One device's part of a placement.
struct DevicePlacement {
  std::string device;               // "cuda:0", "cpu"
  std::string name;
  int first_layer = 0, last_layer = 0;  // [first, last); empty range only for a device with nothing
  bool embedding = false, head = false;
  MemorySplit bytes;                // what its backend will allocate for this range
  std::size_t runtime_overhead = 0; // CUDA runtime allowance (GPUs)
  std::size_t budget_bytes = 0;     // what the placement allowed it (free - reserve, or the manual split)
  std::size_t free_bytes = 0;       // free memory it was given
  std::size_t needed() const { return bytes.total() + runtime_overhead; }
};

struct Placement {
  std::vector<DevicePlacement> ranges;   // in layer order, devices with at least one layer (or the head)
  int context = 0;                       // tokens the KV cache holds (whole pages)
  bool fits = false;                     // every range within its device's budget
  // When it does not fit, or fits only by offloading: what to change ("Put 6 layers on the CPU",
  // "Use a context of 4096 tokens or less", "Use the q4 KV cache"), one line each.
  std::vector<std::string> advice;
  int cpu_layer_count = 0;
  // Every range spans all the layers on its GPU, each GPU holding a share of every layer.
  bool tensor_parallel = false;
  // LoadOptions::placement for this plan (empty under tensor parallelism).
  std::vector<LayerPlacement> layers() const;
  // LoadOptions::tensor_parallel for this plan (empty for a layer split).
  std::vector<std::string> tensor_parallel_devices() const;
};

// Places the model's layers (see SplitMode). Never fails for lack of memory: an unfitting model
// gives fits = false with advice (CPU offload, a shorter context, a smaller cache). invalid_argument
// for bad options (no devices, manual split without one budget per GPU, cpu_layers > layers).
Result<Placement> plan_placement(const MemoryPlanner& planner, const PlacementOptions& options);

// MemoryPlanner::open(model_path, options.gpu_sm_count) then plan(options).
Result<MemoryPlan> plan_memory(const std::string& model_path, const PlanOptions& options = {});

// The KV cache bytes of one layer's K or V pool holding `positions` positions of `kv_heads` x
// `head_dim` values: fp16 2 bytes a value (GPU); fp32 4 (the CPU backend's fp16 mode); q8 one
// byte + a 4-byte scale per group of 32 values (head_dim when 32 does not divide it); q4 half a
// byte + a 4-byte scale and a 4-byte minimum per group (CPU backend); q8h / q4h the same codes
// with 2-byte (fp16) scales and minimums (CUDA backend).
enum class KvLayout : std::uint8_t { fp16, fp32, q8, q4, q8h, q4h };
std::size_t kv_pool_bytes(KvLayout layout, std::size_t positions, int kv_heads, int head_dim);

const char* kv_cache_mode_name(KvCacheMode mode);              // "fp16", "q8", "q4"
bool parse_kv_cache_mode(const std::string& name, KvCacheMode& out);

}  // namespace nibble
