// Backend and Segment: the device abstraction the forward pass runs on. A Backend is one device
// (the CPU, or one CUDA GPU); a Segment is a contiguous range of decoder layers resident on that
// device (optionally with the embedding, and/or the final norm + head). A model is a chain of
// segments; hidden states cross devices only at segment boundaries, through the host or peer
// copies. Implemented by backend/cpu and backend/cuda; driven by model/ and runtime/.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backend/batch.h"
#include "nibble/error.h"
#include "nibble/model.h"

namespace nibble {

struct ModelSpec;
class WeightSource;

enum class DeviceKind : std::uint8_t { cpu, cuda };

struct DeviceInfo {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;                  // CUDA ordinal; 0 for the CPU
  std::string name;               // "CPU (2 threads)", "NVIDIA H100 80GB HBM3"
  std::size_t total_bytes = 0;    // device memory (RAM for the CPU)
  std::size_t free_bytes = 0;
};

enum class KvCacheType : std::uint8_t { fp32, fp16, q8, q4 };

struct SegmentOptions {
  int first_layer = 0;           // [first_layer, last_layer) decoder layers
  int last_layer = 0;
  bool has_embedding = false;    // token ids -> hidden happens here
  bool has_head = false;         // final norm + lm_head happen here
  int max_rows = 512;            // largest BatchPlan::n_rows() (scratch is sized for it)
  int kv_pages = 0;              // pages in this segment's KV pool (per layer)
  int page_size = 256;
  KvCacheType kv_type = KvCacheType::fp16;
  // Tensor parallelism (CUDA): this segment holds share `shard` of `shards` of every layer (its
  // attention heads, its part of the MLP's intermediate columns; o_proj whole), driven layer by
  // layer by the tensor-parallel segment, which adds the collectives between the shares.
  int shard = 0;
  int shards = 1;
};

// Progress during weight upload: done/total bytes; returning false cancels the load.
using LoadProgressFn = std::function<bool(std::size_t done, std::size_t total)>;

class Segment {
 public:
  virtual ~Segment() = default;

  virtual const SegmentOptions& options() const = 0;

  // Token ids (plan.tokens) -> hidden state rows. Only on a segment with has_embedding.
  virtual Status embed(const BatchPlan& plan) = 0;
  // Runs this segment's decoder layers over the hidden state in place, writing K/V for every row
  // into the pages the plan names and attending causally (and within a sliding window if any).
  virtual Status run_layers(const BatchPlan& plan) = 0;
  // Final norm + lm_head for plan.logit_rows -> logits [logit_rows.size(), vocab] fp32 on the host.
  // Only on a segment with has_head.
  virtual Status head(const BatchPlan& plan, float* logits) = 0;
  // Final norm + lm_head + the choice of one token per logit row on the device (Model::
  // forward_sample); ids [logit_rows.size()] on the host. Only where can_sample(); ErrorKind::
  // unsupported by default.
  virtual bool can_sample() const { return false; }
  virtual Status head_sample(const BatchPlan& /*plan*/, std::span<const DeviceSampling> /*sampling*/,
                             std::int32_t* /*ids*/) {
    return make_error(ErrorKind::unsupported, "sampling on the device: not on this backend");
  }

  // Hidden state exchange at segment boundaries: rows x hidden_size fp32, host memory.
  virtual Status hidden_to_host(float* dst, int rows) = 0;
  virtual Status hidden_from_host(const float* src, int rows) = 0;
  // Hands the hidden rows straight to the next segment's device when this backend knows how
  // (CUDA -> CUDA: a copy within one GPU, a peer copy, or a pinned host bounce); the model calls
  // it only for GPU -> GPU boundaries, which it decides at load. ErrorKind::unsupported otherwise.
  virtual Status hidden_to_segment(Segment& /*next*/, int /*rows*/) {
    return make_error(ErrorKind::unsupported, "no direct hand-off between these devices");
  }

  // Bytes this segment holds on its device, by category (for the VRAM dashboard).
  struct MemoryUse {
    std::size_t weights = 0;
    std::size_t kv_cache = 0;
    std::size_t scratch = 0;
  };
  virtual MemoryUse memory_use() const = 0;
  // Each device a segment spans with its bytes, when it spans several (tensor parallelism); empty
  // otherwise, and the model counts memory_use() on the segment's one device.
  virtual std::vector<std::pair<std::string, MemoryUse>> memory_by_device() const { return {}; }
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual DeviceInfo info() const = 0;

  // Loads layers [opts.first_layer, opts.last_layer) (+ embedding/head as asked) from `weights`
  // onto this device. Fails cleanly (out_of_memory, format, cancelled, ...) with nothing leaked.
  virtual Result<std::unique_ptr<Segment>> create_segment(const ModelSpec& spec,
                                                          const WeightSource& weights,
                                                          const SegmentOptions& opts,
                                                          const LoadProgressFn& progress) = 0;
};

}  // namespace nibble
