// The EXL2 output folder: shards (output.safetensors, or output-0000i-of-0000n.safetensors past the
// size limit) with the fp16 embeddings and norms and every quantized linear read back from the job
// record, config.json with quantization_config, and the tokenizer and template files copied.
// Used by the orchestration's last stage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/weight_source.h"

namespace nibble::quant {

struct OutputSpec {
  std::string output_dir;
  std::vector<std::string> layer_files;  // job-record safetensors per decoder layer, in order
  std::string head_file;                 // job-record safetensors holding lm_head
  std::int64_t shard_bytes = 8ll << 30;
  nlohmann::ordered_json quantization_config;
};

// Returns the names of the files written into output_dir, in order.
Result<std::vector<std::string>> write_exl2_folder(const WeightSource& ws, const OutputSpec& spec);

// Bytes the output will take, from the source shapes and the bits to store (for the disk check).
std::int64_t estimate_output_bytes(const ModelSpec& spec, double bpw, int head_bits);

}  // namespace nibble::quant
