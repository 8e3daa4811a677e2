// The measurement: for every attention and MLP block, each candidate of the table quantized
// (GPTQ from the block's own fp inputs) and scored by the relative error of the block's output
// (residual included) against the fp block on the measurement rows, with its exact stored size.
// Saved as JSON so other targets reuse it. Called layer by layer by the orchestration.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/weight_source.h"
#include "quant/candidates.h"
#include "quant/compute.h"

namespace nibble::quant {

struct CandidateScore {
  int candidate = 0;       // index into block_candidates(kind)
  std::int64_t bits = 0;   // stored bits of the block's linears
  double error = 0;        // ||y_c - y||^2 / ||y||^2 over the measurement rows
};

struct BlockMeasurement {
  int layer = 0;
  BlockKind kind = BlockKind::attn;
  std::int64_t weights = 0;  // K x N summed over the block's linears
  std::vector<CandidateScore> scores;
};

struct Measurement {
  std::vector<BlockMeasurement> blocks;  // layer by layer: attn, then mlp
  int rows = 0, length = 0;              // measurement rows and their length
  std::string calibration;               // calibration source name
  std::string model;                     // architecture and shape, checked on reuse
  double ppl_fp = 0;                     // the input model on the measurement rows
};

// "llama 8x384 i1024 h6/2 v4096": the shape a measurement belongs to.
std::string measurement_model_key(const ModelSpec& spec);

nlohmann::json measurement_to_json(const Measurement& m);
// format error naming `file` when the JSON is not a measurement of this candidate table.
Result<Measurement> measurement_from_json(const nlohmann::json& j, const std::string& file);

// Measures the attention block (x: layer input) or the MLP block (x: input after attention) of
// `layer` over `seqs` rows; writes the fp block output (x + block(x)) to y ([seqs * length][hidden]).
// x and y are distinct arrays from qc.activations() or host memory.
// cancelled when *cancel turns true between candidates.
Result<BlockMeasurement> measure_block(QuantCompute& qc, const WeightSource& ws, const LayerWeights& fp, int layer,
                                       BlockKind kind, const float* x, int seqs, float* y,
                                       const std::atomic<bool>* cancel);

}  // namespace nibble::quant
