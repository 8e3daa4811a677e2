// The quantization pass over one block with the allocated mixes, on all calibration rows and the
// quantized model's own hidden states: Hessian of the block input, GPTQ of the input-side linears
// (q/k/v or gate/up), then the middle (attention or SwiGLU) with those quantized weights, the
// Hessian of the output linear's input and its GPTQ, and finally the residual update of x. Packs
// every linear with engine/formats. Called by the orchestration layer by layer.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/exl2.h"
#include "io/safetensors_writer.h"
#include "model/weight_source.h"
#include "quant/candidates.h"
#include "quant/compute.h"
#include "quant/source_model.h"

namespace nibble::quant {

struct QuantizedLinear {
  std::string name;           // "model.layers.3.self_attn.q_proj"
  int K = 0, N = 0;
  Exl2Packed packed;
  std::vector<std::uint16_t> bias;  // [N] fp16, empty when none
  std::vector<float> weight;  // [N][K] the solver's dequantized weight
  std::int64_t bits = 0;      // stored bits (layout_bits)
  std::string mix;            // mix name
};

struct QuantizedBlock {
  std::vector<QuantizedLinear> linears;
  std::int64_t bits = 0, weights = 0;
  double error = 0;  // ||y_q - y_fp||^2 / ||y_fp||^2 on the first check_seqs rows (same input)
};

// x: [seqs * length][hidden] (from qc.activations() or host memory), replaced by x + block_q(x).
// mixes: one per linear of the block.
Result<QuantizedBlock> quantize_block(QuantCompute& qc, const WeightSource& ws, const LayerWeights& fp, int layer,
                                      BlockKind kind, const std::vector<int>& mixes, float* x, int seqs, int check_seqs,
                                      const std::atomic<bool>* cancel);

// Tensors of a quantized linear for the safetensors writer (views into `q`).
void append_tensors(const QuantizedLinear& q, std::vector<TensorToWrite>& out);

}  // namespace nibble::quant
