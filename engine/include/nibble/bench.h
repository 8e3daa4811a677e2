// Public benchmark API: writes synthetic Llama-2-7B-shaped models (random weights; EXL2 4-bit g128,
// GPTQ 4-bit g128 or fp16) and measures them with the protocol of docs/BENCHMARKS-PROTOCOL.md:
// load time from page cache, batch-1 decode with a host round trip per token, prefill, memory.
// Implemented in engine/bench; used by `nibble-cli bench` and tests (with tiny shapes).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nibble/error.h"

namespace nibble {

struct SyntheticShape {
  int hidden = 4096;
  int intermediate = 11008;
  int layers = 32;
  int heads = 32;
  int kv_heads = 32;
  int vocab = 32000;
  int max_positions = 4096;
  double exl2_bits = 4.0;  // EXL2 decoder layers: mixed ceil/floor-bit groups averaging this, in [2, 6]; head 4-bit
};

enum class SyntheticFormat { exl2, gptq, fp16 };
const char* synthetic_format_name(SyntheticFormat f);

// Writes config.json, tokenizer-free weights (sharded safetensors with an index) into `dir`
// (created; must be empty or absent). EXL2: uniform 4-bit groups of 128 with an identity
// permutation and q_scale_max 0.002; GPTQ: 4-bit g128 symmetric v1, scales 0.0005; fp16: N(0, 0.02).
Status write_synthetic_model(const std::string& dir, const SyntheticShape& shape, SyntheticFormat format,
                             std::uint64_t seed = 1);

struct BenchOptions {
  std::string device = "cuda:0";
  // Layer split: the layers in equal shares over these devices in order (empty = all on `device`),
  // after the first `cpu_layers` layers, which run on the CPU (with the embedding).
  std::vector<std::string> devices;
  // With two or more `devices`: every layer shared among them (tensor parallelism) instead of a
  // layer split.
  bool tensor_parallel = false;
  int cpu_layers = 0;
  std::vector<SyntheticFormat> formats = {SyntheticFormat::exl2, SyntheticFormat::gptq, SyntheticFormat::fp16};
  SyntheticShape shape;
  std::string work_dir;                 // "" = /dev/shm (or the temp dir) / nibble-bench-<pid>
  int decode_tokens = 512;              // positions 0..decode_tokens, reported per 128-token window
  std::vector<int> prefill_lengths = {128, 512, 2048};
  int context = 4096;                   // KV cache capacity for the run (the memory figure)
  int repeats = 3;                      // prefill runs per length (median reported)
  bool keep_files = false;
};

struct BenchResult {
  std::string format;
  std::string device;
  double file_gb = 0;
  double load_seconds = 0;              // Model::load from page cache (second load)
  std::vector<double> decode_windows;   // tokens/s of each 128-token window
  double decode_tokens_per_s = 0;       // mean of the windows
  std::vector<std::pair<int, double>> prefill;  // (prompt length, tokens/s)
  double device_used_gb = 0;            // device memory in use after loading (all processes' delta)
};

using BenchLog = std::function<void(const std::string&)>;

Result<std::vector<BenchResult>> run_bench(const BenchOptions& options, const BenchLog& log = {});

}  // namespace nibble
